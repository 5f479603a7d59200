"""ppm lock, ppm add, ppm remove, ppm sync, ppm tree, ppm why"""

from __future__ import annotations

from typing import Optional

import typer


def _root():  # noqa: ANN202
    from pathlib import Path

    from ppm.core import manifest

    return manifest.find_root(Path.cwd())


def _print_diff(result) -> None:  # noqa: ANN001
    for line in result.diff.lines():
        print(f"  {line}")


def register(app: typer.Typer) -> None:
    @app.command()
    def lock(
        check: bool = typer.Option(False, "--check", help="Exit non-zero, naming what differs, when ppm.lock is out of date."),
        upgrade: bool = typer.Option(False, "--upgrade", "-U", help="Pick the newest allowed versions of everything."),
        upgrade_package: Optional[list[str]] = typer.Option(None, "--upgrade-package", "-P", help="Upgrade only this package (eco:name or name)."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
    ) -> None:
        """Resolve every ecosystem's dependencies into ppm.lock."""
        from ppm.lockfile import project

        result = project.lock(_root(), check=check, upgrade=upgrade, upgrade_packages=upgrade_package or (), offline=offline)
        if result.status == "fresh":
            print("ppm.lock is up to date")
        elif result.status == "stale":
            print("ppm.lock is out of date:")
            _print_diff(result)
            raise typer.Exit(1)
        else:
            print(f"{'wrote' if result.status == 'written' else 'unchanged:'} {result.path.name}")
            _print_diff(result)

    @app.command()
    def add(
        packages: list[str] = typer.Argument(..., help="eco:name[spec]: pypi:httpx>=0.27 npm:preact@^10 cargo:serde@1 go:MODULE@v1.2.3 maven:G:A@V"),
        features: Optional[list[str]] = typer.Option(None, "--features", "-F", help="Cargo features to enable (comma-separated or repeated)."),
        to: Optional[str] = typer.Option(None, "--to", help="Add to this component's dependencies instead of the project's."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
        targets: Optional[list[str]] = typer.Option(None, "--targets", help="Only for these targets (comma-separated or repeated), any ecosystem."),
        os_: Optional[list[str]] = typer.Option(None, "--os", help="npm: only where process.platform matches (like package.json `os`)."),
        cpu: Optional[list[str]] = typer.Option(None, "--cpu", help="npm: only where process.arch matches (like package.json `cpu`)."),
    ) -> None:
        """Add packages to ppm.toml (checked against their registries first) and re-lock. Per-target
        conditions in each ecosystem's words: `pypi:pywin32>=306; sys_platform == 'win32'`,
        `cargo:windows-sys@0.52; cfg(windows)`, npm --os/--cpu, --targets for any ecosystem."""
        from ppm.lockfile import project

        def split(values: Optional[list[str]]) -> list[str]:
            return [f.strip() for chunk in values or () for f in chunk.split(",") if f.strip()]

        written, result = project.add(_root(), packages, features=split(features), to=to, offline=offline,
                                      targets=split(targets), os=split(os_), cpu=split(cpu))
        for w in written:
            print(f"added {w}")
        _print_diff(result)

    @app.command()
    def remove(
        packages: list[str] = typer.Argument(..., help="eco:name"),
        from_component: Optional[str] = typer.Option(None, "--from", help="Remove from this component's dependencies."),
        offline: bool = typer.Option(False, "--offline", help="Use only the local HTTP cache."),
    ) -> None:
        """Remove packages from ppm.toml and re-lock."""
        from ppm.lockfile import project

        removed, result = project.remove(_root(), packages, from_component=from_component, offline=offline)
        for r in removed:
            print(f"removed {r}")
        _print_diff(result)

    @app.command()
    def sync(
        offline: bool = typer.Option(False, "--offline", help="Use only artifacts already downloaded."),
        check: bool = typer.Option(False, "--check", help="Exit non-zero when the native files are not in sync with ppm.lock (no changes)."),
    ) -> None:
        """Write the native lockfiles and fetch what builds need, so builders run in locked mode."""
        from ppm.lockfile import sync as sync_mod

        root = _root()
        if check:
            if sync_mod.is_synced(root):
                print("in sync with ppm.lock")
                return
            print("not in sync with ppm.lock: run `ppm sync`")
            raise typer.Exit(1)
        result = sync_mod.sync(root, offline=offline, report=print)
        for line in result.lines:
            print(line)
        for f in result.written:
            print(f"  wrote {f}")
        if not result.lines:
            print("nothing to sync: ppm.toml declares no dependencies")

    @app.command()
    def tree(
        ecosystem: Optional[str] = typer.Option(None, "--ecosystem", "-e", help="Only this ecosystem."),
        depth: int = typer.Option(50, "--depth", help="How deep to print."),
    ) -> None:
        """Print the locked dependency tree of each component."""
        from ppm.lockfile import project

        print("\n".join(project.tree(_root(), ecosystem=ecosystem, depth=depth)))

    @app.command()
    def why(package: str = typer.Argument(..., help="eco:name or name")) -> None:
        """Show how a locked package is reached."""
        from ppm.lockfile import project

        print("\n".join(project.why(_root(), package)))
