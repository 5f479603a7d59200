"""Where ppm keeps things: the user-wide cache, and the project's own state directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """ppm's cache root: $PPM_CACHE_DIR, else the platform's user cache directory."""
    env = os.environ.get("PPM_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ppm", appauthor=False))


def state_dir(root: Path) -> Path:
    """The project's state: stat cache, build record, materialized outputs, scratch space."""
    return root / ".ppm"


def toolchains_dir() -> Path:
    """Provisioned toolchains: $PPM_TOOLCHAINS_DIR, else <cache>/toolchains. Kept apart from the
    action cache so that a fresh action cache (a test's, a CI job's) can reuse the toolchains."""
    env = os.environ.get("PPM_TOOLCHAINS_DIR")
    return Path(env) if env else cache_dir() / "toolchains"
