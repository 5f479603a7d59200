"""The command line: parse, call one function of the engine, print. Nothing else lives here.

Each command group is a small module in ppm/cli/ with a `register(app)` function; the
engine modules they call are imported inside the command bodies, so `ppm --help` only pays
for typer."""

from __future__ import annotations

import importlib
import sys

import typer
from typer.exceptions import TyperException

from ppm import __version__
from ppm.cli import ui
from ppm.core.errors import PpmError

COMMAND_MODULES = ("init", "build", "graph", "toolchain", "lock", "patch", "release",
                   "run", "test", "dev", "clean", "cache")

app = typer.Typer(
    name="ppm",
    help="A polyglot build system and package manager: one lockfile, one executable.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help: rich's help renderer imports markdown and layout machinery (~80 ms here),
    # which `ppm --help` would pay on every call.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"ppm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Say more: each step and why."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
    color: str = typer.Option("auto", "--color", help="Colour: auto (default; NO_COLOR turns it off), always, never."),
) -> None:
    from ppm.cli import ui

    if color not in ("auto", "always", "never"):
        raise ui.UsageError(f"--color: expected auto, always or never, not {color!r}")
    ui.configure(verbose=verbose, quiet=quiet, color=color)


for _name in COMMAND_MODULES:
    importlib.import_module(f"ppm.cli.{_name}").register(app)


def run() -> None:
    """Run the CLI; a PpmError becomes one clear message on stderr and a non-zero exit."""
    try:
        # Outside standalone mode click returns a typer.Exit's code instead of exiting with it.
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PpmError as e:
        ui.error(str(e))
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except TyperException as e:  # usage errors (exit 2) arrive here in non-standalone mode
        show = getattr(e, "show", None)  # typer's click exceptions print usage and hint
        if show is not None:
            show()
        else:
            ui.error(e.format_message())
        sys.exit(e.exit_code)
