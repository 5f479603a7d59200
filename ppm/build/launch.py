"""`ppm run`: build what is needed, then say which program to run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ppm import targets
from ppm.build.run import build
from ppm.core.errors import PpmError


def program(root: Path, component: str | None = None, *, progress: Any = None, report: Any = None) -> Path:
    """Build for this machine (only `component` and what it needs, when named) and return the
    executable to run: the entry component's bundle, or the named component's executable."""
    host = targets.host().name
    summary = build(root, targets=[host], components=[component] if component else None,
                    progress=progress, report=report)
    if component is None:
        bundle = summary.bundles.get(host)
        if bundle is None:
            raise PpmError("this project has no entry component to run",
                           hint="set `entry = \"NAME\"` under [project] in ppm.toml, or name a component: ppm run NAME")
        return Path(bundle["path"])
    outputs = summary.finals.get((host, component), [])
    exes = [p for p in outputs if p.is_file() and os.access(p, os.X_OK) and not _is_library(p)]
    if not exes:
        names = ", ".join(p.name for p in outputs) or "nothing"
        raise PpmError(f"component {component!r} builds no executable (its outputs: {names})",
                       hint="name a component that builds a program, or run the whole app with `ppm run`")
    return exes[0]


def _is_library(p: Path) -> bool:
    return p.suffix in (".so", ".dylib", ".dll", ".a", ".lib") or ".so." in p.name
