"""The command line: parse, call one function of the engine, print. Nothing else lives here.

Each command group is a small module in ppm/cli/ with a `register(app)` function; the
engine modules they call are imported inside the command bodies, so `ppm --help` only pays
for typer."""

from __future__ import annotations

import importlib
import sys

import typer

COMMAND_MODULES = ("init", "build", "graph", "toolchain", "doctor", "lock", "add", "remove", "sync", "tree", "why",
                   "patch", "release", "keys", "serve_updates", "update", "ci")

app = typer.Typer(
    name="ppm",
    help="A polyglot build system and package manager: one lockfile, one executable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's help renderer imports markdown and layout machinery (~80 ms here),
    # which `ppm --help` would pay on every call.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from ppm import __version__

        print(f"ppm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (also PPM_DEBUG=1)."),
) -> None:
    pass


for _name in COMMAND_MODULES:
    importlib.import_module(f"ppm.cli.{_name}").register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. Click's standalone mode owns usage errors (a usage
    message, exit 2) under whichever click typer carries; ppm/cli/edge.py owns everything else."""
    args = list(sys.argv[1:] if argv is None else argv)

    def call() -> int:
        try:
            app(args=args, prog_name="ppm", standalone_mode=True)
        except SystemExit as e:
            code = e.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        return 0

    return call()
