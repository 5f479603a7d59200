"""File digests cached by (size, mtime, inode), so unchanged files are never rehashed.

An entry is trusted only if the file's mtime was safely older than the moment it was hashed:
a file written in the same clock tick as its hashing could change again without its mtime
moving (git's "racy clean" problem), so such files are hashed again next time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ppm.core.fsutil import atomic_write_text, sha256_file

RACY_NS = 50_000_000  # 50 ms: coarser than any file system's timestamp granularity we meet


class StatCache:
    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("version") == 1:
                self.entries = data["files"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            pass

    def digest(self, rel: str) -> str:
        """sha256 of the project-relative file `rel` (FileNotFoundError if it is gone)."""
        st = os.stat(self.root / rel)
        e = self.entries.get(rel)
        if e is not None and e[0] == st.st_size and e[1] == st.st_mtime_ns and e[2] == st.st_ino:
            return str(e[3])
        before = time.time_ns()
        d = sha256_file(self.root / rel)
        if st.st_mtime_ns < before - RACY_NS:
            self.entries[rel] = [st.st_size, st.st_mtime_ns, st.st_ino, d]
        else:
            self.entries.pop(rel, None)
        self.dirty = True
        return d

    def save(self) -> None:
        if self.dirty:
            atomic_write_text(self.path, json.dumps({"version": 1, "files": self.entries}, separators=(",", ":")))
            self.dirty = False
