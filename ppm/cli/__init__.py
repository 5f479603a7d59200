"""The command line: the typer app (app.py) and one module per command, each with a
`register(app)` that parses options, calls one function below it, and prints.

Imports are at the top of every module, except these function-local ones, each for start-up
time (`ppm --help`, a no-op `ppm build`, an unchanged `ppm lock` are answered in tens of ms):

- ppm/__main__.py imports the no-op fast paths (ppm.build.fastpath, ppm.lockfile.project's
  try_noop) and the plain `ppm patch apply` path (ppm/cli/patchfast.py, which imports
  ppm.delta once the command line is one it answers) before the CLI, and the CLI (typer) only
  when they cannot answer.
- ppm/build/fastpath.py: record(), called after a full build, imports the file helpers and
  ppm's packages it lists; the check itself uses the standard library alone.
- ppm/cli/<command>.py: a command's body imports the layer it calls (the engine, the
  resolvers, the release code), so `ppm --help` pays for typer alone.
- ppm/cli/ui.py: rich (its live display and tables) only when printing to a terminal.
- ppm/core/paths.py: platformdirs, only when $PPM_CACHE_DIR is unset.
- Heavy libraries, imported where they are used: tuf, securesystemslib and cryptography
  (ppm.release, ppm.update), hdiffpatch and zstd (ppm.delta), and there tempfile and ctypes
  too (making a patch only: the apply path is held to bspatch's time), zstandard (release
  compression, update decoding), packaging (version ordering), httpx, zipfile and tarfile
  (toolchain provisioning).

Nothing else is imported inside a function: a cycle between layers is broken by moving code
to the right layer (or passing data down through a context), never by a lazy import.
"""
