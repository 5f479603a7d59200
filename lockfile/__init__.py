"""One lockfile for every ecosystem: the lock format (model), version rules (versions), registry
clients (registries/), resolution (resolve) and native lockfile export (export)."""
