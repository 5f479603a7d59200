"""A toolchain as the engine sees it: an executable, its version, and an identity for keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

Report = Callable[[str], None]  # where progress lines go (the CLI prints them)


@dataclass
class Toolchain:
    name: str
    version: str  # "" when not found
    source: str  # where it came from, for humans
    argv: list[str]  # absolute argv prefix; `{tool:NAME}` as a whole command word expands to it
    env: dict[str, str]  # extra environment the tool needs
    identity: str  # digest of (name, version, artifact/binary digest): no paths, no timestamps
    usable: bool
    note: str = ""  # when not usable: what to do about it
    # Facts a builder plans with, e.g. cargo's "sysroot" (where each target's std would be).
    info: dict[str, str] = field(default_factory=dict)
    # For a toolchain found on the machine: what identifies it, as (label, "sha256:<hex>", size)
    # triples with no machine paths in them ("bin/go", "lib/rustlib/src/rust/library",
    # "deb:rustc-web=1.96.0-1" for a Debian package's installed file list). `ppm lock` records
    # them; a build compares them with the lock's record (ppm/lockfile/toolchains.py).
    parts: tuple[tuple[str, str, int], ...] = ()


def identity(*parts: str) -> str:
    """A toolchain's identity: a digest of what makes it this tool (never a path or a time)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
