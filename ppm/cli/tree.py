"""`ppm tree`: the locked dependency tree of each component."""

from __future__ import annotations

import typer

from ppm.cli.common import project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def tree(
        ecosystem: str | None = typer.Option(None, "--ecosystem", "-e", help="Only this ecosystem."),
        depth: int = typer.Option(50, "--depth", help="How deep to print."),
    ) -> None:
        """Print the locked dependency tree of each component."""
        from ppm.lockfile import project

        print("\n".join(project.tree(project_root(), ecosystem=ecosystem, depth=depth)))
