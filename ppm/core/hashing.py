"""Hashes as the lock and the registries spell them, computed by streaming: "sha256:<hex>" and
npm's SRI "sha512-<base64>". One implementation for every store and every download. A digest
that comes from outside (a pin, the lock, a registry) is parsed here before anything is
downloaded, so an unknown algorithm is refused up front."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError

CHUNK = 1 << 20
# What a lock may name. md5 and anything exotic are refused: a lock edited to a weak or unknown
# algorithm is an error, not a skipped check.
ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")


class BadHash(PpmError):
    """A hash string ppm cannot check (unknown algorithm or form)."""


def parse(expected: str) -> tuple[str, str, bool]:
    """(algorithm, wanted digest, is_sri) for "algo:hex" or "algo-base64"."""
    if ":" in expected:
        algo, want = expected.split(":", 1)
        sri = False
    elif "-" in expected:
        algo, want = expected.split("-", 1)
        sri = True
    else:
        raise BadHash(f"hash {expected!r} is neither algorithm:hex nor an SRI algorithm-base64 string")
    if algo not in ALGORITHMS:
        raise BadHash(f"hash {expected!r}: unknown or refused algorithm {algo!r} (ppm checks {', '.join(ALGORITHMS)})")
    return algo, want, sri


def _format(algo: str, h: hashlib._Hash, sri: bool) -> str:
    return f"{algo}-{base64.b64encode(h.digest()).decode()}" if sri else f"{algo}:{h.hexdigest()}"


def of_chunks(chunks: Iterable[bytes], like: str) -> str:
    """The hash of the concatenated chunks, spelt the way `like` is spelt."""
    algo, _, sri = parse(like)
    h = hashlib.new(algo)
    for c in chunks:
        h.update(c)
    return _format(algo, h, sri)


def of_bytes(data: bytes, like: str) -> str:
    return of_chunks((data,), like)


def _read(path: str | os.PathLike[str]) -> Iterable[bytes]:
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            yield chunk


def of_file(path: str | os.PathLike[str], like: str) -> str:
    return of_chunks(_read(path), like)


def file_matches(path: Path, expected: str) -> bool:
    """True when the file at `path` has hash `expected`; False when it differs or is unreadable."""
    try:
        return of_file(path, expected) == expected
    except OSError:
        return False


@dataclass(frozen=True)
class Digest:
    algorithm: str
    value: str  # hex (lower case) for "ALGO:HEX", base64 for SRI
    sri: bool

    @classmethod
    def parse(cls, spec: str) -> Digest:
        """Raises ValueError naming the spec when it is neither spelling or the algorithm is unknown."""
        for sep, sri in ((":", False), ("-", True)):
            algo, found, value = spec.partition(sep)
            if found and algo.lower() in ALGORITHMS and value:
                return cls(algo.lower(), value if sri else value.lower(), sri)
        raise ValueError(f"unsupported digest {spec!r}: expected sha256:<hex> or an SRI like sha512-<base64>")

    def hasher(self) -> Any:
        """A fresh hashlib object to feed the bytes to (chunk by chunk)."""
        return hashlib.new(self.algorithm)

    def spell(self, h: Any) -> str:
        """The digest `h` computed, spelled like this one (for "expected X, got Y")."""
        if self.sri:
            return f"{self.algorithm}-{base64.b64encode(h.digest()).decode()}"
        return f"{self.algorithm}:{h.hexdigest()}"

    def matches(self, h: Any) -> bool:
        return self.spell(h) == str(self)

    def __str__(self) -> str:
        return f"{self.algorithm}{'-' if self.sri else ':'}{self.value}"


def matches(content: bytes, spec: str) -> bool:
    """Whether `content` has the digest `spec` (either spelling)."""
    d = Digest.parse(spec)
    h = d.hasher()
    h.update(content)
    return d.matches(h)
