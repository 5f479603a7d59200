"""ppm release, ppm keys init|rotate, ppm serve-updates, ppm update"""

from __future__ import annotations

from pathlib import Path

import typer


def _expiry(root_days: int, targets_days: int, timestamp_days: int) -> object:
    from datetime import timedelta

    from ppm.release.tufrepo import Expiry

    return Expiry(root=timedelta(days=root_days), targets=timedelta(days=targets_days),
                  snapshot=timedelta(days=targets_days), timestamp=timedelta(days=timestamp_days))


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _pct(x: float) -> str:
    """0.0001 -> '0.01%' rather than '0%': small patches are the point of the report."""
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x * 100:.2g}%"


UPDATE_AVAILABLE = 100  # `ppm update --check`'s exit code when there is an update, as `dnf check-update`


def register(app: typer.Typer) -> None:
    @app.command()
    def release(
        version: str | None = typer.Option(None, "--version", help="Version to publish (default: ppm.toml's)."),
        from_n: int = typer.Option(3, "--from", min=0, help="Make patches from this many earlier versions."),
        force: bool = typer.Option(False, "--force", help="Publish even if the version exists or is not the newest."),
        target: list[str] | None = typer.Option(None, "--target", "-t", help="Target to release (repeatable)."),
        keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Online keys (default: $PPM_KEYS_DIR or the user data dir)."),
        patch_ratio: float = typer.Option(0.8, "--patch-ratio", help="Publish a patch only below this fraction of the compressed bundle."),
        resign: bool = typer.Option(False, "--resign", help="Only re-sign the metadata with fresh expiry dates."),
        targets_days: int = typer.Option(90, "--targets-expiry-days"),
        timestamp_days: int = typer.Option(7, "--timestamp-expiry-days"),
        json_out: bool = typer.Option(False, "--json", help="Print the release report as JSON."),
    ) -> None:
        """Publish bundles, zstd patches from earlier versions, and signed update metadata in dist/releases/."""
        import json

        from ppm.cli import ui
        from ppm.core.manifest import find_root
        from ppm.release.publish import release as run_release
        from ppm.release.publish import resign as run_resign

        root = find_root(Path.cwd())
        expiry = _expiry(365, targets_days, timestamp_days)
        if resign:
            v = run_resign(root, keys_dir=keys_dir, expiry=expiry)  # type: ignore[arg-type]
            ui.info(f"re-signed the update metadata (targets version {v})")
            return
        rep = run_release(root, version=version, from_n=from_n, force=force, targets=target, keys_dir=keys_dir,
                          expiry=expiry, patch_ratio=patch_ratio,  # type: ignore[arg-type]
                          report=None if json_out else ui.info)
        if json_out:
            print(json.dumps(rep.to_json(), indent=2))
            return
        ui.info(f"released {rep.project} {rep.version} in {rep.seconds:.1f}s (metadata version {rep.targets_version})")
        for t, r in rep.targets.items():
            ui.info(f"  {t}: {r.bundle} {_size(r.size)}, zstd {_size(r.compressed_size)} "
                    f"({r.compressed_size / max(r.size, 1):.0%}, {r.compress_seconds:.1f}s)")
            for p in r.patches:
                state = "published" if p.published else f"not published: {p.reason}"
                ui.info(f"    patch from {p.from_version}: {_size(p.size)} ({_pct(p.ratio)} of zstd, "
                        f"{p.method}, {p.seconds:.1f}s) {state}")

    keys_app = typer.Typer(help="Create and rotate the update repository's signing keys.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    def _dirs(root: Path, root_key_dir: Path | None, keys_dir: Path | None) -> object:
        from ppm.core import manifest
        from ppm.release.keys import KeyDirs
        from ppm.release.keys import default_key_dirs

        m = manifest.load(root)
        d_root, d_online = default_key_dirs(m.name)
        dirs = KeyDirs(root_key_dir or d_root, keys_dir or d_online)
        dirs.check_outside(root)
        return dirs

    def _print_keys(rep: object, json_out: bool) -> None:
        import json

        from ppm.cli import ui

        if json_out:
            print(json.dumps(rep.to_json(), indent=2))  # type: ignore[attr-defined]
            return
        r = rep
        ui.info(f"root version {r.root_version}: {r.root_json}")  # type: ignore[attr-defined]
        for role, ids in r.keyids.items():  # type: ignore[attr-defined]
            ui.info(f"  {role}: {r.thresholds[role]} of {len(ids)} key(s) {', '.join(i[:12] for i in ids)}")  # type: ignore[attr-defined]
        ui.info(f"  root keys in {r.root_dir} (keep offline); online keys in {r.online_dir}")  # type: ignore[attr-defined]

    @keys_app.command("init")
    def keys_init(
        root_key_dir: Path | None = typer.Option(None, "--root-key-dir", help="Where the root keys go (default: $PPM_ROOT_KEY_DIR or the user data dir)."),
        keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Where the online keys go (default: $PPM_KEYS_DIR or the user data dir)."),
        root_keys: int = typer.Option(1, "--root-keys", min=1, help="How many root keys to create."),
        threshold: int = typer.Option(1, "--threshold", min=1, help="How many root keys must sign a new root."),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Create the root and online keys and an empty signed update repository."""
        from ppm.release.keys import init_keys
        from ppm.core.manifest import find_root
        from ppm.release.publish import repository_dir
        from ppm.release.tufrepo import TufRepository

        root = find_root(Path.cwd())
        rep = init_keys(TufRepository(repository_dir(root)), _dirs(root, root_key_dir, keys_dir),  # type: ignore[arg-type]
                        root_keys=root_keys, threshold=threshold)
        _print_keys(rep, json_out)

    @keys_app.command("rotate")
    def keys_rotate(
        role: list[str] = typer.Option(["root", "targets", "snapshot", "timestamp"], "--role", help="Role whose keys to replace (repeatable; default: all)."),
        root_key_dir: Path | None = typer.Option(None, "--root-key-dir"),
        keys_dir: Path | None = typer.Option(None, "--keys-dir"),
        root_keys: int | None = typer.Option(None, "--root-keys", min=1, help="How many new root keys (default: as many as now)."),
        threshold: int | None = typer.Option(None, "--threshold", min=1),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Replace keys in a new root version signed by the old and the new root keys."""
        from ppm.release.keys import rotate_keys
        from ppm.core.manifest import find_root
        from ppm.release.publish import repository_dir
        from ppm.release.tufrepo import TufRepository

        root = find_root(Path.cwd())
        rep = rotate_keys(TufRepository(repository_dir(root)), _dirs(root, root_key_dir, keys_dir),  # type: ignore[arg-type]
                          role, root_keys=root_keys, threshold=threshold)
        _print_keys(rep, json_out)

    @app.command("serve-updates")
    def serve_updates(
        port: int = typer.Option(8765, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
        directory: Path | None = typer.Option(None, "--dir", help="Repository directory (default: dist/releases/repository)."),
    ) -> None:
        """Serve the update repository on 127.0.0.1 (for testing; production uses any static server)."""
        from ppm.cli import ui
        from ppm.release.tufrepo import serve

        if directory is None:
            from ppm.core.manifest import find_root
            from ppm.release.publish import repository_dir

            directory = repository_dir(find_root(Path.cwd()))
        with serve(directory, port=port) as url:
            ui.info(f"serving {directory} at {url} (Ctrl-C to stop)")
            import threading

            threading.Event().wait()

    @app.command()
    def update(
        repo: str | None = typer.Option(None, "--repo", help="Base URL of the update repository."),
        install: Path = typer.Option(..., "--install", help="The installed executable to update."),
        root_json: Path | None = typer.Option(None, "--root", help="root.json shipped with the app (first update only)."),
        current_version: str | None = typer.Option(None, "--current-version", help="Installed version, if ppm did not install it."),
        target: str | None = typer.Option(None, "--target", help="Target to fetch (default: this machine's)."),
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
        if not repo:
            raise typer.BadParameter("--repo is required unless --rollback")
        info = upd.check(repo, install, current_version, root_json=root_json, target=target)
        if info is None:
            if json_out:
                print(json.dumps({"update": None}))
            rejected = upd.rejected_versions(install)
            ui.info("up to date" + (f" (rolled back here, so not offered again: {', '.join(rejected)})" if rejected else ""))
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
