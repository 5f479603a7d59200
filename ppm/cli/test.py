"""ppm test"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ppm.cli.complete import components


def register(app: typer.Typer) -> None:
    @app.command(epilog="Example: ppm test core ui --junit report.xml")
    def test(
        components: Annotated[list[str] | None, typer.Argument(help="Components to test (default: all).", autocompletion=components)] = None,
        junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here: one suite per component.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print ran, cached, passed and failed as JSON.")] = False,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Actions at once (default: cores).")] = None,
    ) -> None:
        """Run each component's own tests with its own runner (cargo test, zig test, C test programs,
        node --test, pytest); a passing run is cached like any action. Exit 1 on any failure."""
        import json

        from ppm.build.testing import run_tests, write_junit
        from ppm.cli import ui
        from ppm.core.manifest import find_root

        root = find_root(Path.cwd())
        quiet = ui.quiet() or json_out
        with ui.BuildProgress(quiet=quiet) as progress:
            rep = run_tests(root, components, jobs=jobs, progress=progress, report=None if quiet else ui.info)
        if junit is not None:
            write_junit(rep, junit)
        if json_out:
            print(json.dumps(rep.to_json(), indent=2))
        else:
            ui.test_table(rep)
        if rep.failed:
            raise typer.Exit(1)
