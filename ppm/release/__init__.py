"""Publishing releases: bundles, patches, TUF metadata, keys."""
