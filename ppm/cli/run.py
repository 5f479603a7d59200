"""ppm run"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ppm.cli.complete import components


def register(app: typer.Typer) -> None:
    @app.command(epilog="Examples: ppm run · ppm run -- --self-check · ppm run tool -- input.txt",
                 context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
    def run(
        words: Annotated[list[str] | None, typer.Argument(help="[COMPONENT] [-- ARGS…]", show_default=False, autocompletion=components)] = None,
    ) -> None:
        """Build what is needed, then run the app's bundle (or COMPONENT's executable) with ARGS.
        The program's exit code is ppm's."""
        import os
        import subprocess
        from pathlib import Path

        from ppm.build.launch import program
        from ppm.cli import ui
        from ppm.core.manifest import find_root

        component, args = split_words(list(words or []), sys.argv)
        root = find_root(Path.cwd())
        with ui.BuildProgress(quiet=ui.quiet()) as progress:
            exe = program(root, component, progress=progress, report=ui.info if ui.verbose() else None)
        ui.debug(f"running {exe}")
        try:
            rc = subprocess.call([str(exe), *args], cwd=os.getcwd())
        except KeyboardInterrupt:
            rc = 130
        raise typer.Exit(rc)


def split_words(words: list[str], argv: list[str]) -> tuple[str | None, list[str]]:
    """COMPONENT and ARGS from what follows `run`. Parsing stops at the first word, so a `--`
    after COMPONENT reaches us among the words; one right after `run` is eaten by the parser,
    so the command line itself says where it stood."""
    if "--" in words:
        i = words.index("--")
        before, after = words[:i], words[i + 1:]
    elif "--" in argv:
        before, after = [], words
    else:
        before, after = words[:1], words[1:]
    if len(before) > 1:
        from ppm.cli.ui import UsageError

        raise UsageError(f"ppm run: one component at most before `--`, not {' '.join(before)}")
    return (before[0] if before else None), after
