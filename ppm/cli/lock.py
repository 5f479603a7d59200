"""`ppm lock`: resolve every ecosystem into ppm.lock (`--check` for CI)."""

from __future__ import annotations

import typer

from ppm.cli.common import print_diff, project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def lock(
        check: bool = typer.Option(False, "--check", help="Exit non-zero, naming what differs, when ppm.lock is out of date."),
        upgrade: bool = typer.Option(False, "--upgrade", "-U", help="Pick the newest allowed versions of everything."),
        upgrade_package: list[str] | None = typer.Option(None, "--upgrade-package", "-P", help="Upgrade only this package (eco:name or name)."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
    ) -> None:
        """Resolve every ecosystem's dependencies into ppm.lock."""
        from ppm.lockfile import project

        result = project.lock(project_root(), check=check, upgrade=upgrade, upgrade_packages=upgrade_package or (), offline=offline)
        if result.status == "fresh":
            print("ppm.lock is up to date")
        elif result.status == "stale":
            print("ppm.lock is out of date:")
            print_diff(result)
            raise typer.Exit(1)
        else:
            print(f"{'wrote' if result.status == 'written' else 'unchanged:'} {result.path.name}")
            print_diff(result)
