"""What the last sync left, and what builders read from it: kept light, because `ppm build`
imports it on every run (one read of ppm.lock and ppm.toml and a digest compare)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ppm.core import machinekey
from ppm.lockfile import model

SYNC_FORMAT = 1
MANIFEST = "ppm.toml"
STATE = Path(".ppm") / "sync" / "state.json"
LOCKFILE = Path(".ppm") / "sync" / "sync.lock"  # one sync per project at a time
VENDOR = Path(".ppm") / "vendor"
PROJECT_DIR = Path(".ppm") / "sync" / "project"  # native files of worlds no component owns


def digest(root: Path) -> str:
    h = hashlib.sha256(f"sync {SYNC_FORMAT} {sys.version_info[:2]}\n".encode())
    for name in (model.LOCK, MANIFEST):
        try:
            h.update((root / name).read_bytes())
        except FileNotFoundError:
            h.update(b"-")
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def _mac(state: dict[str, Any], *, create: bool) -> str | None:
    body = json.dumps({k: v for k, v in state.items() if k != "mac"}, sort_keys=True).encode()
    return machinekey.tag("sync-state", body, create=create)


def sealed(state: dict[str, Any]) -> dict[str, Any]:
    """The state with this machine's MAC: what `read_state` will believe next time."""
    mac = _mac(state, create=True)
    return {**state, "mac": mac} if mac else dict(state)


def read_state(root: Path) -> dict[str, Any]:
    """The last sync's record, if this machine's ppm wrote it. A .ppm/ that arrived any other way
    (a CI cache, a copied tree) could claim anything about what is vendored: it reads as empty,
    so the next sync rebuilds what it describes from verified downloads."""
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != SYNC_FORMAT:
        return {}
    mac = data.get("mac")
    return data if isinstance(mac, str) and mac == _mac(data, create=False) else {}


def is_synced(root: Path) -> bool:
    state = read_state(root)
    return bool(state) and state.get("digest") == digest(root) and all((root / f).exists() for f in state.get("outputs", []))


def state_world(root: Path, component: str | None, ecosystem: str) -> dict[str, Any] | None:
    for w in read_state(root).get("worlds", []):
        if w.get("component") == component and w.get("ecosystem") == ecosystem:
            return w
    return None


def cargo_args(root: Path, component: str) -> list[str]:
    """Extra `cargo build` arguments for a component whose crates ppm vendored: offline, every
    registry it locked from replaced by the vendor directory. [] when ppm did not sync it."""
    if not state_world(root, component, "cargo"):
        return []
    # Cargo.lock names crates.io (lockfile/export.py): replace it with the vendored copies.
    return ["--offline", "--config", 'source.crates-io.replace-with="ppm-vendor"',
            "--config", 'source.ppm-vendor.directory="{project}/.ppm/vendor/cargo"']


def python_paths(root: Path, component: str) -> list[str]:
    """The site directory holding a component's locked PyPI packages ({project}-relative), if synced."""
    w = state_world(root, component, "pypi")
    return ["{project}/" + (VENDOR / "pypi" / component / "site").as_posix()] if w else []


def go_env(root: Path, component: str | None) -> dict[str, str]:
    """Environment for `go build -mod=readonly` against the synced module tree."""
    if not state_world(root, component, "go"):
        return {}
    return {"GOPROXY": "file://{project}/.ppm/vendor/go", "GOFLAGS": "-mod=readonly", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}


def maven_classpath(root: Path, component: str) -> list[str]:
    w = state_world(root, component, "maven")
    return list(w.get("classpath", [])) if w else []
