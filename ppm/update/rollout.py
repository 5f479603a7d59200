"""Which installs a staged rollout admits, and the install id that decides it.

The install id is random, made once, and kept beside the executable (in its update state
directory), so the same install gets the same answer on every check: raising a rollout from 10% to
50% keeps the first 10% in. The hash also covers the target, channel and version, so each release
samples a different set of installs rather than always the same early adopters.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

_ID = re.compile(r"^[0-9a-f]{32}$")


def install_id(state_dir: Path) -> str:
    """The install's id, created on first use (atomically: two updaters racing agree on one)."""
    p = state_dir / "install-id"
    try:
        text = p.read_text().strip()
        if _ID.match(text):
            return text
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".install-id.{os.getpid()}.tmp"
    tmp.write_text(secrets.token_hex(16) + "\n")
    try:
        os.link(tmp, p)  # fails if another process won the race (or the file is damaged: replace it below)
    except FileExistsError:
        if not _ID.match(p.read_text().strip()):
            os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p.read_text().strip()


def position(install: str, target: str, channel: str, version: str) -> float:
    """A stable point in [0, 100) for this install and release."""
    h = hashlib.sha256(f"ppm-rollout\0{install}\0{target}\0{channel}\0{version}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 * 100


def admitted(install: str, target: str, channel: str, version: str, rollout: float) -> bool:
    """Whether a rollout of `rollout` percent includes this install: 0 admits none, 100 all."""
    return position(install, target, channel, version) < rollout


STABLE = "stable"
_CHANNEL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def valid_channel(name: str) -> bool:
    return bool(_CHANNEL.match(name))


def channel_path(target: str, channel: str) -> str:
    """The signed document of `channel` for `target`: stable keeps the path clients always read."""
    return f"{target}/latest.json" if channel == STABLE else f"{target}/channels/{channel}.json"
