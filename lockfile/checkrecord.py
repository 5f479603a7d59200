"""A record that `ppm lock --check` passed, written by ppm on this machine and nowhere else.

Nothing inside the repository may answer `--check` (a pull request edits the lock and whatever
sits beside it), and neither may a cache CI restores. So the record is keyed by an HMAC over
what the check read (ppm.lock, ppm.toml, the registries, ppm's version) under a random key
kept outside the cache: $PPM_STATE_DIR, else the user's state directory. A restored cache
without that key proves nothing; a changed byte in ppm.lock or ppm.toml means a full check.
Standard library only: `ppm lock --check` asks here before the CLI framework loads."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from ppm import __version__
from ppm.core.paths import cache_dir


def state_dir() -> Path:
    env = os.environ.get("PPM_STATE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_state_dir("ppm", appauthor=False))


def _key(create: bool) -> bytes | None:
    path = state_dir() / "lock-check.key"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        if not create:
            return None
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key.hex() + "\n")
    except FileExistsError:
        return _key(create=False)  # another ppm made it first
    except OSError:
        return None  # no writable state directory: every check is a full one
    return key


def _tag(key: bytes, root: Path, registries: dict[str, str]) -> str | None:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(f"ppm {__version__}\n{json.dumps(registries, sort_keys=True)}\n".encode())
    for name in ("ppm.lock", "ppm.toml"):
        try:
            body = (root / name).read_bytes()
        except OSError:
            return None
        mac.update(len(body).to_bytes(8, "big") + body)
    return mac.hexdigest()


def _path(tag: str) -> Path:
    return cache_dir() / "lock-checks" / tag[:2] / tag


def passed(root: Path, registries: dict[str, str]) -> bool:
    """True when this machine's ppm fully checked exactly these files against these registries."""
    key = _key(create=False)
    tag = _tag(key, root, registries) if key else None
    return bool(tag) and _path(tag).is_file()  # type: ignore[arg-type]


def remember(root: Path, registries: dict[str, str]) -> None:
    key = _key(create=True)
    tag = _tag(key, root, registries) if key else None
    if not tag:
        return
    p = _path(tag)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError:
        pass  # a read-only cache: the next check is a full one
