# Benchmarks are scripts run by hand (see each file's docstring), never by the default test run.
collect_ignore_glob = ["*.py"]
