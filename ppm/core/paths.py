"""Where things are: the project (found from a directory inside it), its state directory, and
ppm's user-wide cache. Standard library only at import: the no-op fast paths use this module."""

from __future__ import annotations

import os
from pathlib import Path


MANIFEST = "ppm.toml"


def find_project_root(start: str | os.PathLike[str]) -> Path | None:
    """The nearest directory at or above `start` that holds ppm.toml, or None."""
    d = Path(start).resolve()
    for candidate in (d, *d.parents):
        if os.path.isfile(os.path.join(candidate, MANIFEST)):
            return candidate
    return None


def cache_dir() -> Path:
    """ppm's cache root: $PPM_CACHE_DIR, else the platform's user cache directory."""
    env = os.environ.get("PPM_CACHE_DIR")
    if env:
        return Path(env)
    # Imported here, not above: the no-op paths import this module, and platformdirs (5 ms)
    # is needed only when $PPM_CACHE_DIR is unset.
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
