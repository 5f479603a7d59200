"""`ppm remove`: remove packages from ppm.toml, then re-lock."""

from __future__ import annotations

import typer

from ppm.cli.common import print_diff, project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def remove(
        packages: list[str] = typer.Argument(..., help="eco:name"),
        from_component: str | None = typer.Option(None, "--from", help="Remove from this component's dependencies."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
    ) -> None:
        """Remove packages from ppm.toml and re-lock."""
        from ppm.lockfile import project

        removed, result = project.remove(project_root(), packages, from_component=from_component, offline=offline)
        for r in removed:
            print(f"removed {r}")
        print_diff(result)
