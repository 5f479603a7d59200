"""`ppm add`: add packages to ppm.toml after checking them against their registries, then re-lock."""

from __future__ import annotations

import typer

from ppm.cli.common import print_diff, project_root


def _split(values: list[str] | None) -> list[str]:
    return [f.strip() for chunk in values or () for f in chunk.split(",") if f.strip()]


def register(app: typer.Typer) -> None:
    @app.command()
    def add(
        packages: list[str] = typer.Argument(..., help="eco:name[spec]: pypi:httpx>=0.27 npm:preact@^10 cargo:serde@1 go:MODULE@v1.2.3 maven:G:A@V"),
        features: list[str] | None = typer.Option(None, "--features", "-F", help="Cargo features to enable (comma-separated or repeated)."),
        to: str | None = typer.Option(None, "--to", help="Add to this component's dependencies instead of the project's."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
        targets: list[str] | None = typer.Option(None, "--targets", help="Only for these targets (comma-separated or repeated), any ecosystem."),
        os_: list[str] | None = typer.Option(None, "--os", help="npm: only where process.platform matches (like package.json `os`)."),
        cpu: list[str] | None = typer.Option(None, "--cpu", help="npm: only where process.arch matches (like package.json `cpu`)."),
    ) -> None:
        """Add packages to ppm.toml (checked against their registries first) and re-lock. Per-target
        conditions in each ecosystem's words: `pypi:pywin32>=306; sys_platform == 'win32'`,
        `cargo:windows-sys@0.52; cfg(windows)`, npm --os/--cpu, --targets for any ecosystem."""
        from ppm.lockfile import project

        written, result = project.add(project_root(), packages, features=_split(features), to=to, offline=offline,
                                      targets=_split(targets), os=_split(os_), cpu=_split(cpu))
        for w in written:
            print(f"added {w}")
        print_diff(result)
