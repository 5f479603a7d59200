"""Digests as registries spell them, and the one way bytes are checked against one.

Two spellings: "ALGO:HEX" (PyPI, crates.io, ppm's own) and the SRI "ALGO-BASE64" (npm's
`integrity`). A digest that comes from outside (a pin, the lock, a registry) is parsed here
before anything is downloaded, so an unknown algorithm is refused up front.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

ALGORITHMS = frozenset({"sha1", "sha256", "sha384", "sha512"})


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
