"""Cache care for the local store: how big it is, and evicting the least recently used.

A blob hard-linked into a project's materialized outputs (`.ppm/out/...`, a link count above
one) belongs to a build still in use: deleting it would free nothing and is never done. Nor is
a blob touched in the last minute (a running build may be about to name it). An action-cache
entry whose blobs are gone is deleted too; if a running build reads one in between, the store
sees the missing blob and the action simply reruns (ppm.build.cache verifies every blob).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ppm.build.localstore import LocalStore
from ppm.core.paths import cache_dir

GRACE_NS = 60 * 10**9  # blobs changed this recently are left alone


def _grace_ns() -> int:
    """PPM_PRUNE_GRACE_SECONDS overrides the minute (a CI job that prunes right after its build)."""
    v = os.environ.get("PPM_PRUNE_GRACE_SECONDS")
    try:
        return int(float(v) * 10**9) if v else GRACE_NS
    except ValueError:
        return GRACE_NS


@dataclass
class Blob:
    digest: str
    path: Path
    size: int
    links: int
    changed_ns: int  # ctime: when it was written or last linked
    used_ns: int = 0  # when an action-cache entry naming it was last put or hit


@dataclass
class StoreStats:
    root: str
    entries: int
    blobs: int
    bytes: int
    bytes_in_use: int  # linked into a project's outputs
    oldest_use: float | None
    newest_use: float | None

    @property
    def reclaimable(self) -> int:
        return self.bytes - self.bytes_in_use

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "entries": self.entries, "blobs": self.blobs, "bytes": self.bytes,
                "bytes_in_use": self.bytes_in_use, "bytes_reclaimable": self.reclaimable,
                "oldest_use": self.oldest_use, "newest_use": self.newest_use}


@dataclass
class PruneResult:
    blobs_removed: int = 0
    bytes_freed: int = 0
    entries_removed: int = 0
    bytes_after: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"blobs_removed": self.blobs_removed, "bytes_freed": self.bytes_freed,
                "entries_removed": self.entries_removed, "bytes_after": self.bytes_after}


def store_root() -> Path:
    return cache_dir() / "store"


def _entries(root: Path) -> list[tuple[str, list[str], int]]:
    """Every action-cache entry: key, the digests it names, when it was last used."""
    db_path = root / "ac.sqlite"
    if not db_path.exists():
        return []
    # Through the store, so an older database gains its `used` column first.
    rows = LocalStore(root)._query("SELECT key, outputs, used FROM ac")
    out = []
    for key, value, used in rows:
        try:
            v = json.loads(value)
            digests = [o[0] for o in v["outputs"].values()]
            if v.get("stdout_digest"):
                digests.append(v["stdout_digest"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            digests = []
        out.append((key, digests, int(used or 0)))
    return out


def _blobs(root: Path) -> dict[str, Blob]:
    blobs: dict[str, Blob] = {}
    cas = root / "cas"
    try:
        shards = list(os.scandir(cas))
    except FileNotFoundError:
        return blobs
    for shard in shards:
        if not shard.is_dir(follow_symlinks=False):
            continue
        for e in os.scandir(shard.path):
            if e.name.startswith("."):
                continue  # a blob on its way in
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            blobs[e.name] = Blob(e.name, Path(e.path), st.st_size, st.st_nlink, st.st_ctime_ns)
    return blobs


def _scan(root: Path) -> tuple[list[tuple[str, list[str], int]], dict[str, Blob]]:
    entries, blobs = _entries(root), _blobs(root)
    for _key, digests, used in entries:
        for d in digests:
            b = blobs.get(d)
            if b is not None and used > b.used_ns:
                b.used_ns = used
    for b in blobs.values():
        if not b.used_ns:  # named by no entry (a log, or an entry already evicted): its write time
            b.used_ns = b.changed_ns
    return entries, blobs


def stats(root: Path | None = None) -> StoreStats:
    root = root or store_root()
    entries, blobs = _scan(root)
    uses = [b.used_ns / 1e9 for b in blobs.values()]
    return StoreStats(str(root), len(entries), len(blobs), sum(b.size for b in blobs.values()),
                      sum(b.size for b in blobs.values() if b.links > 1),
                      min(uses) if uses else None, max(uses) if uses else None)


def prune(root: Path | None = None, *, max_size: int | None = None, older_than: float | None = None,
          dry_run: bool = False, now_ns: int | None = None) -> PruneResult:
    """Evict blobs least recently used first: every one unused for `older_than` seconds, then
    more until the store holds at most `max_size` bytes; then the entries that named them."""
    root = root or store_root()
    now = now_ns if now_ns is not None else time.time_ns()
    entries, blobs = _scan(root)
    total = sum(b.size for b in blobs.values())
    res = PruneResult()
    grace = _grace_ns()
    candidates = sorted((b for b in blobs.values() if b.links == 1 and now - b.changed_ns > grace),
                        key=lambda b: b.used_ns)
    removed: set[str] = set()
    for b in candidates:
        old = older_than is not None and (now - b.used_ns) / 1e9 > older_than
        big = max_size is not None and total > max_size
        if not (old or big):
            break  # sorted by last use: nothing later is older, and the total only shrinks
        if not dry_run:
            try:
                # Re-check just before: a build may have linked it since the scan.
                st = os.stat(b.path)
                if st.st_nlink > 1 or st.st_ctime_ns != b.changed_ns:
                    continue
                os.chmod(b.path, 0o600)
                os.unlink(b.path)
            except FileNotFoundError:
                pass
        removed.add(b.digest)
        total -= b.size
        res.blobs_removed += 1
        res.bytes_freed += b.size
    stale = [key for key, digests, _ in entries if any(d in removed for d in digests)]
    res.entries_removed = len(stale)
    if stale and not dry_run:
        _drop_entries(root, stale)
    res.bytes_after = total
    return res


def _drop_entries(root: Path, keys: list[str]) -> None:
    db = sqlite3.connect(str(root / "ac.sqlite"), timeout=60, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("DELETE FROM ac WHERE key = ?", [(k,) for k in keys])
        db.execute("COMMIT")
    finally:
        db.close()


def auto_prune(cfg: Any, *, report: Any = None) -> PruneResult | None:
    """After a build: prune to the user config's `[cache] max-size`, when one is set."""
    if cfg.max_size is None:
        return None
    res = prune(max_size=cfg.max_size)
    if res.blobs_removed and report:
        report(f"cache: pruned {res.blobs_removed} blob(s), {human_size(res.bytes_freed)} "
               f"(max-size {human_size(cfg.max_size)} in {cfg.path})")
    return res


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
