"""What every installer shares: its inputs, and what it staged beside the final places. An
installer only stages (extracts, installs into temp directories); `commit` moves everything into
place once every world staged cleanly, so a rejected archive leaves the project as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm.core.fsutil import replace_dir, rmtree, sha256_file, umask
from ppm.lockfile import export, model


@dataclass
class Context:
    root: Path
    comp_dir: Path
    world: export.World
    lock: model.Lock
    files: dict[tuple[str, str], Path]  # (url, hash) -> verified file in the download store
    unchanged: bool  # this world's native files are what the last sync wrote
    trusted: bool = False  # the last sync's record was written by ppm on this machine


@dataclass
class Staged:
    what: str = ""  # "3 crates vendored"
    outputs: list[str] = field(default_factory=list)  # project-relative paths the state records
    state: dict[str, Any] = field(default_factory=dict)  # extra keys for this world's state entry
    dirs: list[tuple[Path, Path]] = field(default_factory=list)  # (staged dir, final dir)
    later: list[Callable[[], None]] = field(default_factory=list)  # copies of verified files, at commit
    texts: dict[Path, str] = field(default_factory=dict)  # project-relative files to write, at commit

    def commit(self) -> None:
        for tmp, final in self.dirs:
            replace_dir(tmp, final)
        for step in self.later:
            step()

    def discard(self) -> None:
        for tmp, _ in self.dirs:
            rmtree(tmp)


def temp_dir_beside(final: Path) -> Path:
    """A fresh, uniquely named directory beside `final` (same file system: the swap is a rename)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; the final directory follows the umask
    return tmp


def copy_verified(src: Path, dest: Path) -> None:
    """Copy a verified store file into place through a uniquely named temp file (concurrent syncs
    never share a temp name); an identical file already there is left alone."""
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and sha256_file(dest) == sha256_file(src):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
