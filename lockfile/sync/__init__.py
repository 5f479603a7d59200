"""`ppm sync`: make each component's native world match ppm.lock, so builders run in locked mode.

For every world (lockfile/export.py) it
  1. has every artifact the builds need verified against the lock's hash, in the download store
     (store.py: a stored file is checked too, every time);
  2. stages every world: the native manifests' dependency lists (manifests.py), the native
     lockfiles, and what the locked tools read offline (one install_<ecosystem>.py each, named in
     lockfile/ecosystems.py), extracted into temp directories beside their final places;
  3. only when every world staged cleanly, writes the files and renames the directories in.
A failure at any step before 3 leaves the project as it was. One sync per project at a time.

`ensure_synced` is what `ppm build` calls: one read of ppm.lock and ppm.toml and a digest
compare with the last sync's record when nothing changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from ppm.core import manifest as manifest_mod
from ppm.core.fsutil import atomic_write_text
from ppm.core.manifest import Manifest
from ppm.core.safepath import join_under
from ppm.lockfile import ecosystems, model
from ppm.lockfile.errors import LockError
from ppm.lockfile.project import is_fresh
from ppm.lockfile.sync.state import (
    LOCKFILE,
    PROJECT_DIR,
    STATE,
    SYNC_FORMAT,
    VENDOR,
    cargo_args,
    digest,
    go_env,
    is_synced,
    maven_classpath,
    python_paths,
    read_state,
    sealed,
)

__all__ = ["PROJECT_DIR", "STATE", "VENDOR", "SyncResult", "cargo_args", "ensure_synced", "go_env", "is_synced",
           "maven_classpath", "python_paths", "sync"]

Report = Callable[[str], None]


@dataclass
class SyncResult:
    lines: list[str] = field(default_factory=list)
    downloaded: int = 0
    written: list[str] = field(default_factory=list)  # project-relative files (re)written


def _has_deps(manifest: Manifest) -> bool:
    return bool(manifest.dependencies) or any(c.dependencies for c in manifest.components.values())


def ensure_synced(root: Path, manifest: Manifest, *, report: Report | None = None) -> None:
    """Sync when ppm.lock or ppm.toml changed since the last sync (or its outputs went missing).
    No network and no parsing beyond a digest compare when nothing changed. Raises LockError when
    the manifest declares dependencies and ppm.lock is missing or out of date."""
    if not (root / model.LOCK).is_file() and not _has_deps(manifest):
        return
    if is_synced(root):
        return
    sync(root, manifest, report=report)


def sync(root: Path, manifest: Manifest | None = None, *, offline: bool = False, report: Report | None = None) -> SyncResult:
    m = manifest or manifest_mod.load(root)
    (root / LOCKFILE).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / LOCKFILE)):
        return _sync_locked(root, m, offline=offline, report=report)


def _read_lock(root: Path, m: Manifest) -> model.Lock:
    path = root / model.LOCK
    if not path.is_file():
        if _has_deps(m):
            raise LockError(f"ppm.toml declares dependencies but there is no {model.LOCK}", hint="run `ppm lock`")
        return model.Lock()
    lock = model.read(path)  # a corrupt lock says what is wrong with it, not "out of date"
    if _has_deps(m) and not is_fresh(root):
        raise LockError(f"{model.LOCK} is out of date with ppm.toml",
                        hint="run `ppm lock` (CI: `ppm lock --check` names the difference)")
    return lock


def _write_text(root: Path, rel: Path, text: str, result: SyncResult) -> None:
    p = root / rel
    try:
        if p.read_text(encoding="utf-8") == text:
            return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(p, text)
    result.written.append(rel.as_posix())


def _sync_locked(root: Path, m: Manifest, *, offline: bool, report: Report | None) -> SyncResult:
    # heavy: the exporters and fetchers bring packaging (export), tomlkit (sync.manifests) and
    # httpx (sync.store), which `ppm build` with nothing to sync (ensure_synced) never needs
    from ppm.lockfile import export
    from ppm.lockfile.sync import manifests
    from ppm.lockfile.sync.fetches import fetches
    from ppm.lockfile.sync.staging import Context, Staged
    from ppm.lockfile.sync.store import fetch_all

    result = SyncResult()
    lock = _read_lock(root, m)
    ws = export.worlds(m, lock) if _has_deps(m) else []
    old_state = read_state(root)  # {} unless this machine's ppm wrote it: then nothing on disk is reused
    old_worlds = {(w.get("component"), w.get("ecosystem")): w for w in old_state.get("worlds", [])}

    # Components whose last managed dependency went away: their native files are rewritten empty,
    # so Cargo.toml / package.json no longer name what ppm.toml dropped.
    current = {(w.component, w.ecosystem) for w in ws}
    for (comp, eco), prev in sorted(old_worlds.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if (comp, eco) not in current and comp in m.components and prev.get("managed"):
            ws.append(export.World(comp, eco, [], []))

    # 1. every download, verified, before anything in the project changes
    jobs = [j for w in ws for j in fetches(w)]
    files = fetch_all(jobs, offline=offline, report=report)
    result.downloaded = len({(j.url, j.hash) for j in jobs})

    # 2. stage every world; nothing the user owns is written yet
    texts_to_write: list[tuple[Path, str, bool]] = []  # (project-relative path, text, is an output)
    staged_all: list[Staged] = []
    state_worlds: list[dict[str, Any]] = []
    try:
        for w in ws:
            if w.component:
                comp_dir = join_under(root, m.components[w.component].path, what=f"component {w.component!r} path")
            else:
                comp_dir = root / PROJECT_DIR / w.ecosystem
            rel_dir = comp_dir.relative_to(root)
            prev = old_worlds.get((w.component, w.ecosystem), {})
            entry: dict[str, Any] = {"component": w.component, "ecosystem": w.ecosystem, "packages": len(w.packages)}
            if w.component and w.ecosystem == "cargo":
                text, entry["managed"] = manifests.cargo_toml(root, comp_dir, w, prev.get("managed", []))
                texts_to_write.append((rel_dir / "Cargo.toml", text, False))
            elif w.component and w.ecosystem == "npm":
                text, entry["managed"] = manifests.package_json(root, comp_dir, w, prev.get("managed", []))
                texts_to_write.append((rel_dir / "package.json", text, False))
            go_version = export.GO_DEFAULT
            if w.ecosystem == "go":
                locked = {(p.name, p.version) for p in w.packages}
                mods = [files[(j.url, j.hash)].read_text(encoding="utf-8", errors="replace") for j in fetches(w)
                        if j.url.endswith(".mod") and (j.pkg.name, j.pkg.version) in locked]
                go_version = export.go_directive(mods)
            texts = export.export_world(w, lock, comp_dir, go_version=go_version)
            texts_to_write += [(rel_dir / name, text, True) for name, text in sorted(texts.items())]
            entry["digest"] = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()
            ctx = Context(root, comp_dir, w, lock, files, unchanged=prev.get("digest") == entry["digest"],
                          trusted=bool(old_state))
            staged = ecosystems.installer(w.ecosystem).stage(ctx)
            staged_all.append(staged)
            entry.update(staged.state)
            result.lines.append(f"{w.label}, {w.ecosystem}: {', '.join(sorted(texts))}; {staged.what}")
            state_worlds.append(entry)
    except BaseException:
        for s in staged_all:
            s.discard()
        raise

    # 3. commit: files first (small, each atomic), then the staged directories
    outputs: list[str] = []
    for rel, text, is_output in texts_to_write:
        _write_text(root, rel, text, result)
        if is_output:
            outputs.append(rel.as_posix())
    for s in staged_all:
        for rel, text in s.texts.items():
            _write_text(root, rel, text, result)
        s.commit()
        outputs += s.outputs
    state = {"format": SYNC_FORMAT, "digest": digest(root), "worlds": state_worlds, "outputs": sorted(set(outputs))}
    atomic_write_text(root / STATE, json.dumps(sealed(state), indent=1, sort_keys=True) + "\n")
    return result
