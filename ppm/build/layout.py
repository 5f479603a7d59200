"""Where a build keeps things in the project's `.ppm/`: materialized outputs, scratch space,
toolchains' incremental state; and the one way a directory of outputs is put in place."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ppm.build.plan import PlannedAction
from ppm.core.fsutil import rmtree


class Layout:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.tmp_root = state / "tmp"
        self._made: set[str] = set()

    def reset_tmp(self) -> None:
        """Empty the scratch space: whatever a killed build left there is garbage."""
        rmtree(self.tmp_root)
        self.tmp_root.mkdir(parents=True, exist_ok=True)

    def out_dir(self, pa: PlannedAction) -> Path:
        # One directory per action, its name escaped so that "compile-src/a.c" stays one level.
        name = pa.action.name.replace("%", "%25").replace("/", "%2F")
        return self.state / "out" / pa.target.name / pa.action.component / name

    def incremental_dir(self, pa: PlannedAction) -> str:
        return os.path.join(self.state, "incremental", pa.target.name, pa.action.component)

    def tmp(self, what: str) -> Path:
        p = self.tmp_root / f"{what}-{uuid.uuid4().hex[:12]}"
        p.mkdir()
        return p

    def mkdirs(self, path: str) -> None:
        """mkdir -p, remembering what exists: a build of thousands of actions would otherwise
        spend more time asking for existing directories than running its compilers."""
        if path not in self._made:
            os.makedirs(path, exist_ok=True)
            self._made.add(path)

    def swap_into(self, new: Path, final: Path) -> None:
        """Replace directory `final` by `new`; a kill at any point leaves `final` whole or absent."""
        self.mkdirs(str(final.parent))
        try:
            os.rename(new, final)  # succeeds when `final` is absent (or an empty directory)
        except OSError:
            trash = self.tmp_root / f"trash-{uuid.uuid4().hex[:12]}"
            os.rename(final, trash)
            os.rename(new, final)
            rmtree(trash)
