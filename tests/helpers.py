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


def run_python(code: str, *args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args...`` in a fresh interpreter that imports ppm from this checkout (for
    what only a new process shows: which modules an entry point imports, its peak memory)."""
    repo = Path(__file__).resolve().parent.parent
    e = {**os.environ, **(env or {})}
    e["PYTHONPATH"] = str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout, check=False)
