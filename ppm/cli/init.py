"""ppm init"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        path: Path = typer.Argument(..., help="Directory to create; its name becomes the project name."),
        template: str = typer.Option("demo", "--template", help="Template to start from."),
    ) -> None:
        """Create a new project: a small real polyglot app (Rust, C, Zig, TypeScript, Java, Python host)."""
        from ppm.cli import ui
        from ppm.templates import create, needs_lock

        dest = create(path, template)
        # a template with dependencies (the desktop one's React) is locked first: that reaches its registries
        steps = "ppm lock && ppm build" if needs_lock(dest) else "ppm build"
        ui.info(f"created {dest.name} in {dest}; next: cd {path} && {steps}")
