"""Finding the project from a directory inside it, with `os` alone: the no-op paths
(`ppm build`, `ppm lock` with nothing to do) call this before anything else is imported, and
pathlib would cost them a few milliseconds. ppm.core.paths.find_project_root wraps it."""

from __future__ import annotations

import os

MANIFEST = "ppm.toml"


def find(start: str) -> str | None:
    """The nearest directory at or above `start` (absolute) that holds ppm.toml, or None."""
    d = start
    while True:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
