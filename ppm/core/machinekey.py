"""A random key that never leaves this machine's state directory, to tell records ppm wrote
here from records that arrived with a repository or a restored cache (which anyone can forge:
a digest of public inputs proves nothing). $PPM_STATE_DIR, else the user's state directory;
never inside the cache or the project."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def state_dir() -> Path:
    env = os.environ.get("PPM_STATE_DIR")
    if env:
        return Path(env)
    import platformdirs  # only when no directory is given: it costs an import on the no-op path

    return Path(platformdirs.user_state_dir("ppm", appauthor=False))


def key(*, create: bool) -> bytes | None:
    path = state_dir() / "machine.key"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        if not create:
            return None
    k = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(k.hex() + "\n")
    except FileExistsError:
        return key(create=False)  # another ppm made it first
    except OSError:
        return None  # no writable state directory: nothing is ever remembered as trusted
    return k


def tag(purpose: str, *parts: bytes, create: bool = False) -> str | None:
    """HMAC-SHA256 over `purpose` and `parts` under this machine's key; None without a key."""
    k = key(create=create)
    if k is None:
        return None
    mac = hmac.new(k, purpose.encode() + b"\0", digestmod=hashlib.sha256)
    for p in parts:
        mac.update(len(p).to_bytes(8, "big") + p)
    return mac.hexdigest()
