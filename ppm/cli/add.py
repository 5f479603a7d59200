"""`ppm add`: add packages to ppm.toml after checking them against their registries, then re-lock."""

from __future__ import annotations

from typing import Optional

import typer

from ppm.cli.common import print_diff, project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def add(
        packages: list[str] = typer.Argument(..., help="eco:name[spec]: pypi:httpx>=0.27 npm:preact@^10 cargo:serde@1 go:MODULE@v1.2.3 maven:G:A@V"),
        features: Optional[list[str]] = typer.Option(None, "--features", "-F", help="Cargo features to enable (comma-separated or repeated)."),
        to: Optional[str] = typer.Option(None, "--to", help="Add to this component's dependencies instead of the project's."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
    ) -> None:
        """Add packages to ppm.toml (checked against their registries first) and re-lock."""
        from ppm.lockfile import project

        feats = [f.strip() for chunk in features or () for f in chunk.split(",") if f.strip()]
        written, result = project.add(project_root(), packages, features=feats, to=to, offline=offline)
        for w in written:
            print(f"added {w}")
        print_diff(result)
