"""ppm update"""

from __future__ import annotations

from pathlib import Path

import typer

UPDATE_AVAILABLE = 100  # `ppm update --check`'s exit code when there is an update, as `dnf check-update`


def register(app: typer.Typer) -> None:
    @app.command()
    def update(
        repo: str | None = typer.Option(None, "--repo", help="Base URL of the update repository."),
        install: Path = typer.Option(..., "--install", help="The installed executable to update."),
        root_json: Path | None = typer.Option(None, "--root", help="root.json shipped with the app (first update only)."),
        current_version: str | None = typer.Option(None, "--current-version", help="Installed version, if ppm did not install it."),
        target: str | None = typer.Option(None, "--target", help="Target to fetch (default: this machine's)."),
        channel: str | None = typer.Option(None, "--channel", help="Follow this channel from now on (default: the one followed, else stable)."),
        allow: list[str] | None = typer.Option(None, "--allow", help="Offer VERSION again although it was rolled back here (repeatable)."),
        rollback: bool = typer.Option(False, "--rollback", help="Restore the version before the last update."),
        check_only: bool = typer.Option(False, "--check", help="Only say whether an update exists: exit 100 if one does, 0 if not."),
        no_self_check: bool = typer.Option(False, "--no-self-check", help="Do not run the new version's --self-check."),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Update an installed executable from a signed update repository, safely."""
        import json

        from ppm.cli import ui
        from ppm.update import client as upd

        install = install.absolute()
        if rollback:
            v = upd.rollback(install)
            ui.info(f"restored {v} at {install}")
            return
        for v in allow or []:
            if upd.allow(install, v):
                ui.info(f"{v} may be offered again")
            else:
                ui.info(f"{v} was not turned away here; nothing to allow")
        if not repo:
            if allow:
                return
            raise typer.BadParameter("--repo is required unless --rollback or --allow")
        info = upd.check(repo, install, current_version, root_json=root_json, target=target, channel=channel)
        if info is None:
            if json_out:
                print(json.dumps({"update": None}))
            rejected = upd.rejected_versions(install)
            ui.info("up to date" + (f" (rolled back here, so not offered again: {', '.join(rejected)}; "
                                    "`--allow VERSION` offers one again)" if rejected else ""))
            return
        if check_only:
            if json_out:
                print(json.dumps({"update": info.to_json()}, indent=2))
            else:
                ui.info(f"{info.current_version or 'unknown'} → {info.version}: {info.method}, {info.download_size} bytes")
            raise typer.Exit(UPDATE_AVAILABLE)
        res = upd.apply(info, self_check=not no_self_check)
        if json_out:
            print(json.dumps({"update": info.to_json(), "result": res.to_json()}, indent=2))
        for f in res.fallbacks:
            ui.warn(f"fell back: {f}")
        ui.info(f"updated {install.name} {res.previous_version or '(unknown version)'} → {res.version} via {res.method} "
                f"({res.downloaded} bytes, {res.seconds:.2f}s)")
