"""Unpacking what registries publish, streamed and bounded.

An archive is data from outside: a member named `../x`, `/etc/x` or a link is refused, and so is
an archive that expands past the limits below (a decompression bomb), checked while it streams,
before the bytes reach the disk. The defaults are generous for real packages (the largest npm
and crates.io packages unpack to a few hundred MB) and can be changed by environment:

    PPM_EXTRACT_MAX_BYTES    total bytes one archive may unpack to        default 4 GiB
    PPM_EXTRACT_MAX_FILES    members one archive may hold                 default 200000
    PPM_EXTRACT_MAX_RATIO    unpacked size / archive size, checked once   default 200
                             more than 64 MiB came out
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ppm.core.safepath import UnsafePath, join_under
from ppm.lockfile.errors import LockError

CHUNK = 1 << 20
RATIO_FLOOR = 64 << 20  # below this much output, any ratio is fine (small files of zeros compress well)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 << 30
    max_files: int = 200_000
    max_ratio: int = 200

    @classmethod
    def from_env(cls) -> Limits:
        def num(name: str, default: int) -> int:
            raw = os.environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise LockError(f"{name}={raw!r}: not a whole number") from None
            if value <= 0:
                raise LockError(f"{name}={raw!r}: must be positive")
            return value

        d = cls()
        return cls(num("PPM_EXTRACT_MAX_BYTES", d.max_bytes), num("PPM_EXTRACT_MAX_FILES", d.max_files),
                   num("PPM_EXTRACT_MAX_RATIO", d.max_ratio))


class _Budget:
    """Counts what an archive has produced so far and refuses the byte or member that goes over."""

    def __init__(self, limits: Limits, packed: int, what: str) -> None:
        self.limits, self.packed, self.what = limits, max(packed, 1), what
        self.bytes = 0
        self.files = 0

    def member(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise LockError(f"{self.what}: more than {self.limits.max_files} members; refused as a decompression bomb",
                            hint="if the package is real, raise PPM_EXTRACT_MAX_FILES")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_bytes:
            raise LockError(f"{self.what}: unpacks to more than {self.limits.max_bytes} bytes; refused as a decompression bomb",
                            hint="if the package is real, raise PPM_EXTRACT_MAX_BYTES")
        if self.bytes > RATIO_FLOOR and self.bytes > self.limits.max_ratio * self.packed:
            raise LockError(f"{self.what}: expands more than {self.limits.max_ratio} times its {self.packed}-byte archive; "
                            "refused as a decompression bomb", hint="if the package is real, raise PPM_EXTRACT_MAX_RATIO")


def _member_parts(name: str, strip: int, what: str) -> list[str] | None:
    text = name.replace("\\", "/")
    parts = [x for x in text.split("/") if x not in ("", ".")]
    if ".." in parts or text.startswith("/") or (len(text) > 1 and text[1] == ":") or "\0" in text:
        raise LockError(f"{what}: unsafe path {name!r} in the archive; refused")
    return parts[strip:] if len(parts) > strip else None


def _members(t: tarfile.TarFile, strip: int, what: str, budget: _Budget) -> Iterator[tuple[tarfile.TarInfo, str]]:
    for m in t:  # streams: headers are read as the archive is, never all at once up front
        budget.member()
        parts = _member_parts(m.name, strip, what)
        if m.issym() or m.islnk():
            raise LockError(f"{what}: link {m.name!r} -> {m.linkname!r} in the archive; refused")
        if parts is None or not (m.isfile() or m.isdir()):
            continue  # the stripped top directory, device files, fifos: nothing a package needs
        yield m, "/".join(parts)


def extract_tgz(archive: Path, dest: Path, *, strip: int, what: str, limits: Limits | None = None) -> dict[str, str]:
    """Extract the regular files of a .tar.gz under `dest`, dropping `strip` leading path parts;
    returns rel path -> sha256 hex. Streams member by member, chunk by chunk."""
    budget = _Budget(limits or Limits.from_env(), archive.stat().st_size, what)
    sums: dict[str, str] = {}
    checked: set[str] = set()  # directories already found to lie under dest

    def place(rel: str) -> Path:
        # the member name is clean (_member_parts); what is left to check is that no symlink
        # on the disk redirects it, once per directory: resolving every file's path cost 2x
        parent = rel.rpartition("/")[0]
        if parent not in checked:
            try:
                d = join_under(dest, parent, what=what) if parent else dest
            except UnsafePath as e:
                raise LockError(e.message) from None
            d.mkdir(parents=True, exist_ok=True)
            checked.add(parent)
        return dest / rel

    try:
        with tarfile.open(archive, "r|gz") as t:
            for m, rel in _members(t, strip, what, budget):
                if m.isdir():
                    place(rel + "/x")
                    continue
                target = place(rel)
                src = t.extractfile(m)
                if src is None:
                    continue
                h = hashlib.sha256()
                # O_NOFOLLOW: a member never writes through a link someone placed there
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
                             0o755 if m.mode & 0o111 else 0o644)
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(CHUNK):
                        budget.add(len(chunk))
                        h.update(chunk)
                        out.write(chunk)
                sums[rel] = h.hexdigest()
    except (tarfile.TarError, EOFError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise  # the disk, not the archive: reported with its path at the CLI edge
        raise LockError(f"{what}: not a readable .tar.gz ({e})") from None
    return sums


def _zip_source(archive: Path | bytes) -> tuple[Path | io.BytesIO, int]:
    if isinstance(archive, bytes):
        return io.BytesIO(archive), len(archive)
    return archive, archive.stat().st_size


def check_zip(archive: Path | bytes, *, what: str, limits: Limits | None = None) -> list[zipfile.ZipInfo]:
    """Refuse a zip whose members escape, link, or together declare more than the limits allow.
    zipfile never inflates a member past its declared size, so the declared sizes bound the work."""
    lim = limits or Limits.from_env()
    src, size = _zip_source(archive)
    budget = _Budget(lim, size, what)
    try:
        with zipfile.ZipFile(src) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise LockError(f"{what}: not a readable zip ({e})") from None
    for i in infos:
        budget.member()
        _member_parts(i.filename, 0, what)
        if (i.external_attr >> 16) & 0o170000 == 0o120000:
            raise LockError(f"{what}: symbolic link {i.filename!r} in the archive; refused")
        budget.add(i.file_size)
    return infos


def zip_member_sha256s(archive: Path | bytes, *, what: str, limits: Limits | None = None) -> list[tuple[str, str]]:
    """(name, sha256 hex) of every file in a zip, each member streamed: Go's dirhash input."""
    infos = check_zip(archive, what=what, limits=limits)
    out = []
    with zipfile.ZipFile(_zip_source(archive)[0]) as z:
        for i in infos:
            if i.filename.endswith("/"):
                continue
            h = hashlib.sha256()
            with z.open(i) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            out.append((i.filename, h.hexdigest()))
    return out
