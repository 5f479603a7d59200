"""Building: plan, keys, scheduler, executors, stores, the record, the no-op fast path, bundles."""
