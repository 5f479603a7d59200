"""Per-ecosystem resolution rules, one module each; see lockfile/resolve.py for the glue."""
