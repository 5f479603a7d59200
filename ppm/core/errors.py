"""Errors a user can act on. Raised anywhere, caught once at the CLI edge."""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # typing for the type checker only: its import is ms of every `ppm patch apply`
if TYPE_CHECKING:
    from typing import Any


class PpmError(Exception):
    """An error with a message meant for the user; the CLI prints it and exits non-zero."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What was done before the error, for machine-readable output (`ppm build --json`
        # prints the build summary of a failed build): set by whoever has one.
        self.summary: Any = None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ManifestError(PpmError):
    """ppm.toml is malformed or names something unknown."""


class GraphError(PpmError):
    """The component graph is invalid (a cycle, an unknown need)."""


class ToolchainError(PpmError):
    """A toolchain is missing, unusable or could not be provisioned."""


class ActionFailed(PpmError):
    """A builder's command exited non-zero or did not produce its outputs."""


class CacheError(PpmError):
    """The content-addressed store holds something it should not."""


_WHAT_TO_DO = {
    errno.EACCES: "check the permissions of that path (or run ppm as its owner)",
    errno.EPERM: "check the permissions of that path (or run ppm as its owner)",
    errno.EROFS: "the file system is read-only: build in a writable copy, or point PPM_CACHE_DIR at a writable place",
    errno.ENOSPC: "the disk is full: free space there (ppm's cache is PPM_CACHE_DIR, default ~/.cache/ppm)",
    errno.EDQUOT: "the disk quota is exhausted: free space there",
    errno.ENOENT: "it does not exist: check the path",
    errno.ENOTDIR: "a part of that path is not a directory",
    errno.EISDIR: "that path is a directory where a file was expected",
    errno.ELOOP: "too many symbolic links: check that path",
    errno.ENAMETOOLONG: "the name is too long for the file system",
}


def os_error_message(e: OSError) -> str:
    """One line naming the path, what went wrong and what to do: how an OS error reaches the user."""
    paths = [p for p in (e.filename, e.filename2) if p is not None]
    where = " -> ".join(os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in paths)
    what = e.strerror or type(e).__name__
    head = f"{where}: {what}" if where else what
    todo = _WHAT_TO_DO.get(e.errno or 0)
    return f"{head}\n  hint: {todo}" if todo else head
