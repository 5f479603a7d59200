"""`ppm sync`: export the native lockfiles and fetch what builds need (`--check` changes nothing)."""

from __future__ import annotations

import typer

from ppm.cli.common import project_root


def register(app: typer.Typer) -> None:
    @app.command()
    def sync(
        offline: bool = typer.Option(False, "--offline", help="Use only artifacts already downloaded."),
        check: bool = typer.Option(False, "--check", help="Exit non-zero when the native files are not in sync with ppm.lock (no changes)."),
    ) -> None:
        """Write the native lockfiles and fetch what builds need, so builders run in locked mode."""
        from ppm.lockfile import sync as sync_mod

        root = project_root()
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
