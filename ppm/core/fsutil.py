"""Small file-system helpers: atomic writes, hashing, linking."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def umask() -> int:
    # os.umask can only be read by setting it; the value is restored at once (ppm sets no other)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_for(path: Path) -> int:
    """The mode a rewritten file keeps (its own), or what a new file gets under the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~umask()


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write to a temp file beside `path`, then rename: readers see the old or the new file, never
    half. A file that existed keeps its mode; a new one follows the umask (mkstemp alone makes 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard-link `src` to `dst` (same file system), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def replace_dir(new: Path, final: Path) -> None:
    """Put directory `new` where `final` is: two renames, so `final` is the old tree or the new
    one, never half of either; the old tree is removed afterwards."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() or final.is_symlink():
        trash = final.with_name(f".{final.name}.old-{os.urandom(4).hex()}")
        os.rename(final, trash)
        os.rename(new, final)
        rmtree(trash)
    else:
        os.rename(new, final)


def rmtree(path: Path) -> None:
    """Remove a tree, including read-only files inside it."""

    def onerror(func, p, _exc):  # type: ignore[no-untyped-def]
        try:
            os.chmod(p, 0o700)
            func(p)
        except FileNotFoundError:
            pass

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=onerror)
