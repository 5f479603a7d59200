"""The command line: parse, call one function of the engine, print. Nothing else lives here.

Each command group is a small module in ppm/cli/ with a `register(app)` function; the
engine modules they call are imported inside the command bodies, so `ppm --help` only pays
for typer."""

from __future__ import annotations

import importlib
import sys

import typer

COMMAND_MODULES = ("init", "build", "graph", "toolchain", "doctor", "lock", "add", "remove", "sync", "tree", "why",
                   "patch", "release", "keys", "serve_updates", "update", "ci", "run", "test", "dev", "clean", "cache",
                   "worker")

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
        from ppm import __version__

        print(f"ppm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (also PPM_DEBUG=1)."),
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
    "keys init": "ppm keys init --root-keys 3 --threshold 2",
    "keys rotate": "ppm keys rotate",
    "release promote": "ppm release promote 1.2.0 --rollout 100%",
    "worker": "ppm worker --server grpc://127.0.0.1:50051 --jobs 2",
    "worker exec": "ppm worker exec .ppm-action.json   (what ppm worker runs inside each lease's directory)",
    "ci init": "ppm ci init && git add .github/workflows/ppm.yml",
    "ci summary": "ppm build --json > build.json; ppm ci summary build.json >> \"$GITHUB_STEP_SUMMARY\"",
}


def _polish(t: typer.Typer, group: str = "") -> None:
    """Every command gets an example, and its whole first sentence in the command list: click
    would otherwise cut it to the terminal's width with '...'."""
    for info in t.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        key = f"{group} {name}" if f"{group} {name}" in EXAMPLES else name
        if info.epilog is None and key in EXAMPLES:
            info.epilog = f"Example: {EXAMPLES[key]}"
        if info.short_help is None:
            info.short_help = _first_sentence(info.help or (info.callback.__doc__ if info.callback else "") or "")
    for g in t.registered_groups:
        if g.typer_instance is not None:
            ginfo = g.typer_instance.info
            doc = g.help if isinstance(g.help, str) else ginfo.help if isinstance(ginfo.help, str) else ""
            if not isinstance(g.short_help, str) and doc:
                g.short_help = _first_sentence(doc)
            gname = g.name if isinstance(g.name, str) else ginfo.name if isinstance(ginfo.name, str) else ""
            if not isinstance(ginfo.epilog, str) and gname in EXAMPLES:
                ginfo.epilog = f"Example: {EXAMPLES[gname]}"
            name = g.name if isinstance(g.name, str) else g.typer_instance.info.name
            _polish(g.typer_instance, name if isinstance(name, str) else "")


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


_polish(app)


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
