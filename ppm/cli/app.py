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

# One example per command, for commands whose module gives none (`ppm X --help` ends with it).
EXAMPLES = {
    "init": "ppm init myapp && cd myapp && ppm build",
    "graph": "ppm graph --dot | dot -Tsvg > graph.svg",
    "doctor": "ppm doctor",
    "lock": "ppm lock --check   (what CI runs)",
    "add": "ppm add pypi:httpx>=0.27 npm:preact@^10 --to app",
    "remove": "ppm remove pypi:httpx",
    "sync": "ppm sync --check",
    "tree": "ppm tree",
    "why": "ppm why pypi:idna",
    "release": "ppm release --version 1.2.0 --from 3",
    "serve-updates": "ppm serve-updates",
    "update": "ppm update --repo http://127.0.0.1:8000 --install ./myapp",
    "list": "ppm toolchain list --provision",
    "make": "ppm patch make old new -o old-to-new.patch",
    "apply": "ppm patch apply old old-to-new.patch -o new",
    "info": "ppm patch info old-to-new.patch",
    "init-keys": "ppm keys init --root-keys 3 --threshold 2",
    "rotate": "ppm keys rotate",
}


def _polish(t: typer.Typer, group: str = "") -> None:
    """Every command gets an example, and its whole first sentence in the command list: click
    would otherwise cut it to the terminal's width with '...'."""
    for info in t.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        key = "init-keys" if (group, name) == ("keys", "init") else name
        if info.epilog is None and key in EXAMPLES:
            info.epilog = f"Example: {EXAMPLES[key]}"
        if info.short_help is None:
            info.short_help = _first_sentence(info.help or (info.callback.__doc__ if info.callback else "") or "")
    for g in t.registered_groups:
        if g.typer_instance is not None:
            name = g.name if isinstance(g.name, str) else g.typer_instance.info.name
            _polish(g.typer_instance, name if isinstance(name, str) else "")


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


_polish(app)


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
