"""REAPI digests (sha256 hex + size) and the one check every blob from a remote goes through."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from ppm.core.errors import PpmError

log = logging.getLogger("ppm.remote")


class BlobCorrupt(PpmError):
    """A remote served bytes that do not match the digest they were asked for."""

    def __init__(self, message: str, digest: Digest | None = None) -> None:
        super().__init__(message)
        self.digest = digest


@dataclass(frozen=True, order=True)
class Digest:
    hash: str
    size: int

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"


def verified(data: bytes, want: Digest, source: str) -> bytes:
    """`data` if it is the blob `want` names; otherwise refuse it (logged, then BlobCorrupt)."""
    got = Digest.of(data)
    if got != want:
        log.debug("refused blob %s from %s: its content hashes to %s", want, source, got)
        raise BlobCorrupt(f"{source} served a corrupt blob: asked for {want}, got {got}", want)
    return data
