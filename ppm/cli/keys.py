"""ppm keys init | rotate"""

from __future__ import annotations

from pathlib import Path

import typer


def _dirs(root: Path, root_key_dir: Path | None, keys_dir: Path | None) -> object:
    from ppm.core import manifest
    from ppm.release import config
    from ppm.release.keys import KeyDirs, default_key_dirs

    m = manifest.load(root)
    d_root, d_online = default_key_dirs(m.name)
    dirs = KeyDirs(root_key_dir or d_root, keys_dir or d_online)
    dirs.check_outside(root, config.load(root, m.name).repository)
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


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Create and rotate the update repository's signing keys.", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("init")
    def keys_init(
        root_key_dir: Path | None = typer.Option(None, "--root-key-dir", help="Where the root keys go (default: $PPM_ROOT_KEY_DIR or the user data dir)."),
        keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Where the online keys go (default: $PPM_KEYS_DIR or the user data dir)."),
        root_keys: int = typer.Option(1, "--root-keys", min=1, help="How many root keys to create."),
        threshold: int = typer.Option(1, "--threshold", min=1, help="How many root keys must sign a new root."),
        new_root: bool = typer.Option(False, "--new-root", help="Start a new root although this project has one: every installed copy will refuse later updates."),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Create the root and online keys and an empty signed update repository (first release only)."""
        from ppm.core import manifest
        from ppm.core.manifest import find_root
        from ppm.release import config
        from ppm.release.keys import init_keys
        from ppm.release.tufrepo import TufRepository

        root = find_root(Path.cwd())
        cfg = config.load(root, manifest.load(root).name)
        rep = init_keys(TufRepository(cfg.repository), _dirs(root, root_key_dir, keys_dir),  # type: ignore[arg-type]
                        root_keys=root_keys, threshold=threshold, new_root=new_root, published_url=cfg.url)
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
        from ppm.core import manifest
        from ppm.core.manifest import find_root
        from ppm.release.keys import rotate_keys
        from ppm.release.publish import open_repository

        root = find_root(Path.cwd())
        dirs = _dirs(root, root_key_dir, keys_dir)
        repo = open_repository(root, project=manifest.load(root).name, keys_dir=dirs.online)  # type: ignore[attr-defined]
        rep = rotate_keys(repo, dirs, role, root_keys=root_keys, threshold=threshold)  # type: ignore[arg-type]
        _print_keys(rep, json_out)
