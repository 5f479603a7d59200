"""The command line: parse, call one function of the engine, print. Nothing else lives here.

Each command group is a small module in ppm/cli/ with a `register(app)` function; the
engine modules they call are imported inside the command bodies, so `ppm --help` only pays
for typer."""

from __future__ import annotations

import importlib
import sys

import typer

COMMAND_MODULES = ("init", "build", "graph", "toolchain", "lock", "patch", "release", "worker")

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
) -> None:
    pass


for _name in COMMAND_MODULES:
    importlib.import_module(f"ppm.cli.{_name}").register(app)


def run() -> None:
    """Run the CLI; a PpmError becomes one clear message on stderr and a non-zero exit."""
    from ppm.core.errors import PpmError

    try:
        # Outside standalone mode click returns a typer.Exit's code instead of exiting with it.
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PpmError as e:
        from ppm.cli import ui

        ui.error(str(e))
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
