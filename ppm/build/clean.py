"""`ppm clean`: the project's own outputs go; the user-wide store stays."""

from __future__ import annotations

import os
from pathlib import Path

from ppm.core.fsutil import rmtree
from ppm.core.paths import state_dir

LOCK = "build.lock"


def clean(root: Path, *, dist: bool = True) -> list[str]:
    """Remove .ppm/ (all but its lock file, held while cleaning so no build runs meanwhile) and
    dist/; returns what was removed, project-relative."""
    from filelock import FileLock

    state = state_dir(root)
    removed: list[str] = []
    if state.is_dir():
        with FileLock(str(state / LOCK)):
            for e in sorted(os.listdir(state)):
                if e == LOCK:
                    continue
                p = state / e
                if p.is_dir() and not p.is_symlink():
                    rmtree(p)
                else:
                    p.unlink(missing_ok=True)
                removed.append(f"{state.name}/{e}")
    d = root / "dist"
    if dist and d.is_dir():
        rmtree(d)
        removed.append("dist/")
    return removed
