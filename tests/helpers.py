"""Helpers the tests share (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_ppm(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([sys.executable, "-m", "ppm", *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"ppm {' '.join(args)} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p
