"""Errors raised while reading, resolving or writing the lock; caught once at the CLI edge."""

from __future__ import annotations

from ppm.core.errors import PpmError


class LockError(PpmError):
    """ppm.lock is malformed, out of date, or cannot be produced."""


class RegistryError(PpmError):
    """A registry could not be reached or answered something unusable; names registry and package."""

    def __init__(self, ecosystem: str, package: str, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        where = f" ({url})" if url else ""
        super().__init__(f"{ecosystem} registry, package {package!r}: {message}{where}", hint=hint)
        self.ecosystem = ecosystem
        self.package = package


class ResolutionError(PpmError):
    """No set of versions satisfies every requirement; the message names the conflicting sides."""


class HashMismatch(PpmError):
    """A downloaded artifact does not match the hash the lock or registry gave for it."""
