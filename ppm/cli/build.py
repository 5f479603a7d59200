"""ppm build"""

from __future__ import annotations

import typer

from ppm.cli.complete import components


def register(app: typer.Typer) -> None:
    @app.command(epilog="Examples: ppm build · ppm build core ui · ppm build --target linux-aarch64 --json")
    def build(
        components: list[str] | None = typer.Argument(None, help="Build only these components and what they need (default: all).",
                                                  autocompletion=components),
        target: list[str] | None = typer.Option(None, "--target", "-t", help="Target to build (repeatable); default: the project's targets."),
        jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Actions to run at once (default: number of cores)."),
        keep_going: bool = typer.Option(False, "--keep-going", "-k", help="Go on with independent actions after a failure."),
        explain: bool = typer.Option(False, "--explain", help="Say why each action ran."),
        json_out: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
    ) -> None:
        """Build every component for every target and bundle the entry component into one executable."""
        import json

        from ppm.build.run import build as run_build
        from ppm.cli import ui
        from ppm.cli.common import project_root
        from ppm.core.errors import PpmError

        root = project_root()
        quiet = quiet or ui.quiet()
        report = None if quiet else ui.info
        with ui.BuildProgress(quiet=quiet or json_out) as progress:
            try:
                summary = run_build(root, targets=target, jobs=jobs, keep_going=keep_going, progress=progress, report=report,
                                      components=components)
            except PpmError as e:
                if json_out and e.summary is not None:
                    print(json.dumps(e.summary.to_json(), indent=2))
                raise
        if explain:
            for a in summary.actions:
                if a["status"] in ("ran", "cached"):
                    verb = "ran" if a["status"] == "ran" else "from cache"
                    ui.info(f"{a['id']}: {verb}: {a['reason']}")
        if json_out:
            print(json.dumps(summary.to_json(), indent=2))
        if quiet:
            return
        if summary.executed == 0 and summary.cached == 0:
            ui.info(f"nothing to do: {summary.planned} actions up to date ({summary.seconds:.2f}s)")
        else:
            ui.info(f"built {summary.project}: {summary.executed} ran, {summary.cached} from cache, "
                    f"{summary.up_to_date} up to date in {summary.seconds:.2f}s")
        for t, b in summary.bundles.items():
            ui.info(f"  {t}: {_rel(b['path'])} ({b['size'] / 1e6:.1f} MB)")

    def _rel(p: str) -> str:
        import os

        try:
            return os.path.relpath(p)
        except ValueError:
            return p
