"""Where a name from outside becomes a path: the one check that the final path lies under its root.

Names (package names, versions, archive members, output names) are checked against their own
grammar where they enter; this is the second check, at the moment one is joined onto a
directory, so that a grammar with a hole, a symlink already on disk or a name nobody checked
still cannot reach outside the root."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ppm.core.errors import PpmError


class UnsafePath(PpmError):
    """A name would become a path outside the directory it belongs in."""


def _parts(rel: str, what: str) -> list[str]:
    if not rel or "\0" in rel:
        raise UnsafePath(f"{what}: empty name or a NUL byte in {rel!r}")
    text = rel.replace("\\", "/")
    if text.startswith("/") or PurePosixPath(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise UnsafePath(f"{what}: {rel!r} is an absolute path; only names relative to their directory are allowed")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafePath(f"{what}: {rel!r} leaves its directory ('..')")
    return parts


def join_under(root: Path, *names: str, what: str) -> Path:
    """root / names..., refused (UnsafePath naming `what`) unless the result, with every symlink
    that already exists resolved, lies under root. Each name may hold '/' (a scoped npm name, a
    Go module path), never '..', an absolute path or a drive."""
    parts = [p for n in names for p in _parts(n, what)]
    path = root.joinpath(*parts)
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != base and base not in real.parents:
        raise UnsafePath(f"{what}: {'/'.join(parts)!r} resolves to {real}, outside {root}",
                         hint="a symbolic link on the way points elsewhere: remove it")
    return path


def check_under(root: Path, path: Path, *, what: str) -> Path:
    """`path` itself (already joined) must lie under root once existing symlinks are resolved."""
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != base and base not in real.parents:
        raise UnsafePath(f"{what}: {path} resolves to {real}, outside {root}")
    return path
