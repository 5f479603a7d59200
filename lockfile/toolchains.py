"""The toolchains ppm provisions (zig, esbuild, PyInstaller), pinned in the lock for every host
platform ppm knows a build for, so a locked build runs the same tools on every machine.

`pin_project` decides what `ppm lock` writes: the provisioned tools the project's builders use,
kept as locked unless an upgrade asks otherwise. `host_pins` gives `ppm build` the locked
ppm.toolchains.Pin of each for this machine."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ppm import targets as targets_mod
from ppm.builders import REGISTRY, check_manifest
from ppm.core.manifest import Manifest
from ppm.lockfile import model
from ppm.toolchains import PINS, PROVISIONED, Artifact, Pin, host_platform


def used_toolchains(manifest: Manifest) -> list[str]:
    """The provisioned toolchains any component's builder may run for any of the project's targets."""
    check_manifest(manifest)
    tlist = []
    for n in manifest.targets:
        try:
            tlist.append(targets_mod.get(n))
        except LookupError:
            continue
    names: set[str] = set()
    for c in manifest.components.values():
        bcls = REGISTRY[c.builder]
        names.update(bcls.tools)
        for t in tlist:
            names.update(bcls.tools_for(c, t))
    return sorted(n for n in names if n in PROVISIONED)


def _platform_entry(pin: Pin) -> dict[str, Any]:
    return {"registry": pin.registry, "package": pin.package, "kind": pin.kind, "binary": pin.binary,
            "artifacts": [{"path": a.path, "hash": a.hash, "size": a.size} for a in pin.artifacts]}


def from_pins(name: str) -> model.Toolchain | None:
    """The lock entry for ppm's own pins of `name` (every platform), or None if it has none."""
    plats = PINS.get(name) or {}
    if not plats:
        return None
    entries = {p: _platform_entry(pin) for p, pin in sorted(plats.items())}
    versions = {pin.version for pin in plats.values()}
    version = sorted(versions)[-1]
    sources = sorted({f"{pin.registry}:{pin.package}" for pin in plats.values()})
    # one package everywhere ("pypi:ziglang"), or one per platform ("npm:@esbuild/*")
    source = sources[0] if len(sources) == 1 else os.path.commonprefix(sources) + "*"
    doc = json.dumps({"name": name, "version": version, "platforms": entries}, sort_keys=True, separators=(",", ":"))
    return model.Toolchain(name, version, source, "sha256:" + hashlib.sha256(doc.encode()).hexdigest(), entries)


def pin_project(manifest: Manifest, old: model.Lock | None, upgrade: bool | Iterable[str] = False) -> dict[str, model.Toolchain]:
    """name -> locked toolchain: the old lock's entry where there is one (unless upgraded: all, or
    `toolchain:NAME` / `NAME` in the upgrade list), else ppm's own pins."""
    ups = set() if isinstance(upgrade, bool) else set(upgrade)
    out: dict[str, model.Toolchain] = {}
    for name in used_toolchains(manifest):
        keep = old.toolchains.get(name) if old is not None else None
        if keep is not None and upgrade is not True and name not in ups and f"toolchain:{name}" not in ups:
            out[name] = keep
            continue
        t = from_pins(name)
        if t is not None:
            out[name] = t
    return out


def host_pins(lock: model.Lock, platform: str | None = None) -> dict[str, Pin]:
    """The locked build of each toolchain for this machine (those the lock has no build of for
    this platform are left to ppm's own pins)."""
    plat = platform or host_platform()
    out: dict[str, Pin] = {}
    for name, t in lock.toolchains.items():
        e = t.platforms.get(plat)
        if not e:
            continue
        arts = tuple(Artifact(a["path"], a["hash"], int(a.get("size", 0))) for a in e.get("artifacts", []))
        out[name] = Pin(name, t.version, str(e.get("registry", "")), str(e.get("package", "")), str(e.get("kind", "")),
                        arts, str(e.get("binary", "")))
    return out


def locked_pins(root: Path) -> dict[str, Pin]:
    """For `ppm build`: this machine's locked toolchain pins from root/ppm.lock ({} without a lock)."""
    path = root / model.LOCK
    if not path.is_file():
        return {}
    return host_pins(model.read(path))
