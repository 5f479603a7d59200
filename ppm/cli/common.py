"""What several commands share: finding the project, printing a lock diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def project_root() -> Path:
    """The project the command runs in: the nearest ppm.toml at or above the working directory."""
    from ppm.core.manifest import (
        find_root,  # the CLI edge: `ppm --help` must not pay for it
    )

    return find_root(Path.cwd())


def print_diff(result: Any) -> None:
    """The lines a lock result's diff says changed (a ppm.lockfile.project result)."""
    for line in result.diff.lines():
        print(f"  {line}")
