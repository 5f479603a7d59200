"""The toolchains in the lock.

Provisioned ones (zig, esbuild, PyInstaller, Nuitka) are pinned for every host platform ppm
knows a build for, so a locked build runs the same tools on every machine. Found ones a cross
build uses (go, mingw-w64, wasm-ld, a Rust with its library sources, rustup's std for the
project's targets: ppm.toolchains.FOUND_RECORDED) cannot be downloaded; the lock records, per
host platform, what identifies the one `ppm lock` found there (content digests of its binaries
and sources, and of the Debian packages they came from), `kind = "found"`:

    [toolchain.go.platform.linux-x86_64]
    kind = "found"
    version = "1.26.8"
    artifacts = [
      { path = "bin/go", hash = "sha256:…", size = 15434687 },
    ]

`pin_project` decides what `ppm lock` writes: the provisioned tools the project's builders use,
kept as locked unless an upgrade asks otherwise, and the found ones recorded for this platform
(kept as recorded unless `--upgrade` / `--upgrade-package toolchain:NAME`; other platforms'
records are kept as they are). `locked_pins` gives `ppm build` the locked Pin of each
provisioned tool for this machine and the records a found one is checked against.

The lock is untrusted input (a pull request can edit it): lockfile/model.py checks the shape
and spelling of every entry when it reads it, and `locked_pins` that a name's entries are of
the kind that name is (a found record cannot turn into a download, nor a pin into a record)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ppm import targets as targets_mod
from ppm import toolchains as toolchains_mod
from ppm.builders import REGISTRY, check_manifest
from ppm.core.manifest import Manifest
from ppm.lockfile import model
from ppm.lockfile.errors import LockError
from ppm.toolchains import (
    FOUND_RECORDED,
    PINS,
    PROVISIONED,
    Artifact,
    FoundRecord,
    LockedPins,
    Pin,
    Toolchain,
    host_platform,
)

FOUND = "found"  # the `kind` of a found toolchain's platform entry
FOUND_SOURCE = "found on the machine (what identifies it is recorded per platform)"


def _targets(manifest: Manifest) -> list[targets_mod.Target]:
    out = []
    for n in manifest.targets:
        try:
            out.append(targets_mod.get(n))
        except LookupError:
            continue
    return out


def used_toolchains(manifest: Manifest, among: Iterable[str] = PROVISIONED, *, optional: bool = False) -> list[str]:
    """The toolchains (of `among`: by default the provisioned ones) any component's builder may
    run for any of the project's targets (with `optional`, those it may pick while planning too)."""
    check_manifest(manifest)
    tlist = _targets(manifest)
    names: set[str] = set()
    for c in manifest.components.values():
        bcls = REGISTRY[c.builder]
        names.update(bcls.tools)
        for t in tlist:
            names.update(bcls.tools_for(c, t))
            if optional:
                names.update(bcls.optional_tools_for(c, t))
    wanted = set(among)
    return sorted(n for n in names if n in wanted)


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
    source = sources[0] if len(sources) == 1 else os.path.commonprefix(sources) + "*"  # noqa: RUF071 - a character prefix is meant
    doc = json.dumps({"name": name, "version": version, "platforms": entries}, sort_keys=True, separators=(",", ":"))
    return model.Toolchain(name, version, source, "sha256:" + hashlib.sha256(doc.encode()).hexdigest(), entries)


def found_entry(tc: Toolchain) -> dict[str, Any]:
    """The lock's record of a found toolchain for one platform."""
    return {"kind": FOUND, "version": tc.version,
            "artifacts": [{"path": label, "hash": h, "size": size} for label, h, size in sorted(tc.parts)]}


def from_found(name: str, platforms: dict[str, dict[str, Any]]) -> model.Toolchain:
    """The lock entry of a found toolchain from its per-platform records."""
    entries = dict(sorted(platforms.items()))
    # the first platform's (by name), whichever machine writes it: each record has its own version
    version = str(next(iter(entries.values())).get("version", ""))
    doc = json.dumps({"name": name, "platforms": entries}, sort_keys=True, separators=(",", ":"))
    return model.Toolchain(name, version, FOUND_SOURCE, "sha256:" + hashlib.sha256(doc.encode()).hexdigest(), entries)


def pin_project(manifest: Manifest, old: model.Lock | None, upgrade: bool | Iterable[str] = False, *,
                record_found: bool = True) -> dict[str, model.Toolchain]:
    """name -> locked toolchain: the old lock's entry where there is one (unless upgraded: all, or
    `toolchain:NAME` / `NAME` in the upgrade list), else ppm's own pins; for the found toolchains
    the project uses, the old records plus this platform's as found here (when `record_found`:
    `ppm lock --check` records nothing, so its answer never depends on the machine it runs on)."""
    ups = set() if isinstance(upgrade, bool) else set(upgrade)

    def upgraded(name: str) -> bool:
        return upgrade is True or name in ups or f"toolchain:{name}" in ups

    out: dict[str, model.Toolchain] = {}
    for name in used_toolchains(manifest):
        keep = old.toolchains.get(name) if old is not None else None
        if keep is not None and not upgraded(name):
            out[name] = keep
            continue
        t = from_pins(name)
        if t is not None:
            out[name] = t
    here = host_platform()
    for name in used_toolchains(manifest, FOUND_RECORDED, optional=True):
        prev = old.toolchains.get(name) if old is not None else None
        plats = {p: dict(e) for p, e in prev.platforms.items() if e.get("kind") == FOUND} if prev is not None else {}
        if record_found and (here not in plats or upgraded(name)):
            tc = toolchains_mod.resolve([name], provision=False)[name]
            if name == "rust-std":  # rustup's std for the project's targets only, not every one installed
                wanted = {f"lib/rustlib/{t.rust_triple}/lib" for t in _targets(manifest)}
                tc = replace(tc, parts=tuple(p for p in tc.parts if p[0] in wanted))
            if tc.usable and tc.parts:
                plats[here] = found_entry(tc)
            else:  # not here (any more): nothing to record for this platform
                plats.pop(here, None)
        if plats:
            out[name] = from_found(name, plats)
    return out


def host_pins(lock: model.Lock, platform: str | None = None, path: Path | str = model.LOCK) -> LockedPins:
    """The locked build of each provisioned toolchain for this machine (those the lock has no
    build of for this platform are left to ppm's own pins), and the lock's record of each found
    toolchain for this platform (`.found`; a found toolchain without one is not checked)."""
    plat = platform or host_platform()
    out = LockedPins()
    for name, t in lock.toolchains.items():
        kinds = {str(e.get("kind", "")) for e in t.platforms.values()}
        if name in FOUND_RECORDED and kinds - {FOUND}:
            raise LockError(f"{path}: toolchain {name!r} is found on the machine, never downloaded, yet the lock gives it "
                            f"a download (kind {', '.join(sorted(kinds - {FOUND}))})", hint="run `ppm lock --upgrade-package "
                            f"toolchain:{name}` to record it anew")
        if FOUND in kinds and name not in FOUND_RECORDED:
            raise LockError(f"{path}: toolchain {name!r} is not one ppm finds on the machine, yet the lock records it as "
                            f"found", hint=f"run `ppm lock --upgrade-package toolchain:{name}` to write its pins anew")
        e = t.platforms.get(plat)
        if not e:
            continue
        if e.get("kind") == FOUND:
            parts = tuple((str(a["path"]), str(a["hash"]), int(a.get("size", 0))) for a in e.get("artifacts", []))
            out.found[name] = FoundRecord(name, plat, str(e.get("version", "")), parts)
            continue
        arts = tuple(Artifact(a["path"], a["hash"], int(a.get("size", 0))) for a in e.get("artifacts", []))
        out[name] = Pin(name, t.version, str(e.get("registry", "")), str(e.get("package", "")), str(e.get("kind", "")),
                        arts, str(e.get("binary", "")))
    return out


def locked_pins(root: Path) -> LockedPins:
    """For `ppm build`: this machine's locked toolchain pins and found-toolchain records from
    root/ppm.lock (none without a lock)."""
    path = root / model.LOCK
    if not path.is_file():
        return LockedPins()
    return host_pins(model.read(path), path=path)
