"""A record that `ppm lock --check` passed, written by ppm on this machine and nowhere else.

Nothing inside the repository may answer `--check` (a pull request edits the lock and whatever
sits beside it), and neither may a cache CI restores. So the record is keyed by an HMAC over
what the check read (ppm.lock, ppm.toml, the registries, ppm's version) under a random key
kept outside the cache: $PPM_STATE_DIR, else the user's state directory. A restored cache
without that key proves nothing; a changed byte in ppm.lock or ppm.toml means a full check.
Standard library only: `ppm lock --check` asks here before the CLI framework loads."""

from __future__ import annotations

import json
from pathlib import Path

from ppm import __version__
from ppm.core import machinekey
from ppm.core.paths import cache_dir


def _tag(root: Path, registries: dict[str, str], *, create: bool) -> str | None:
    parts = [f"ppm {__version__}".encode(), json.dumps(registries, sort_keys=True).encode()]
    for name in ("ppm.lock", "ppm.toml"):
        try:
            parts.append((root / name).read_bytes())
        except OSError:
            return None
    return machinekey.tag("lock-check", *parts, create=create)


def _path(tag: str) -> Path:
    return cache_dir() / "lock-checks" / tag[:2] / tag


def passed(root: Path, registries: dict[str, str]) -> bool:
    """True when this machine's ppm fully checked exactly these files against these registries."""
    tag = _tag(root, registries, create=False)
    return tag is not None and _path(tag).is_file()


def remember(root: Path, registries: dict[str, str]) -> None:
    tag = _tag(root, registries, create=True)
    if not tag:
        return
    p = _path(tag)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError:
        pass  # a read-only cache: the next check is a full one
