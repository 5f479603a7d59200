"""`ppm why PACKAGE`: how a locked package is reached."""

from __future__ import annotations

import typer

from ppm.cli.common import project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def why(package: str = typer.Argument(..., help="eco:name or name")) -> None:
        """Show how a locked package is reached."""
        from ppm.lockfile import project

        print("\n".join(project.why(project_root(), package)))
