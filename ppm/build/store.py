"""The store seam: where blobs and action results live.

A store holds content-addressed blobs (output files, logs) and action results under action
keys. The local store (SQLite action cache + CAS directory) implements it; a remote one (REAPI
or Bazel HTTP) will too, and LayeredStore puts a local store in front of a remote one.

A store promises nothing about the bytes it hands back: the engine checks every blob against
its digest before use, once, above this interface (see ppm.build.cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ppm.build.results import ActionResult, OutputFile


class Store(Protocol):
    def has_blob(self, digest: str) -> bool:
        """Whether the blob is held (a cheap check: no content is read)."""
        ...

    def put_blob(self, path: Path) -> OutputFile:
        """Add a file's content; the file may become a read-only link to the stored blob."""
        ...

    def get_blob(self, blob: OutputFile, dest: Path) -> None:
        """Place the blob's bytes at `dest` (replacing it). Unverified: the caller checks them.
        Raises FileNotFoundError when the blob is not held."""
        ...

    def drop_blob(self, digest: str) -> None:
        """Forget a blob found corrupt (no error when absent)."""
        ...

    def get_action_result(self, key: str) -> ActionResult | None:
        """The result recorded under an action key, or None."""
        ...

    def put_action_result(self, key: str, result: ActionResult) -> None:
        """Record a result; call only once every blob it names has been put."""
        ...

    def drop_action_result(self, key: str) -> None:
        """Forget a result whose blobs turned out missing or corrupt."""
        ...


class LayeredStore:
    """A fast store in front of a slow one (local first, then remote).

    Reads try `near` first; a blob found only in `far` is copied into `near` as it is placed,
    so the next read is local. Writes go to both. Results found only in `far` are returned
    as they are: their blobs are fetched lazily, when something asks for them."""

    def __init__(self, near: Store, far: Store) -> None:
        self.near = near
        self.far = far

    def has_blob(self, digest: str) -> bool:
        return self.near.has_blob(digest) or self.far.has_blob(digest)

    def put_blob(self, path: Path) -> OutputFile:
        blob = self.near.put_blob(path)
        if not self.far.has_blob(blob.digest):
            self.far.put_blob(path)
        return blob

    def get_blob(self, blob: OutputFile, dest: Path) -> None:
        if self.near.has_blob(blob.digest):
            self.near.get_blob(blob, dest)
            return
        self.far.get_blob(blob, dest)
        # Kept near under the digest of what actually arrived: a corrupt far blob can never
        # pose as the blob it was asked for.
        self.near.put_blob(dest)

    def drop_blob(self, digest: str) -> None:
        self.near.drop_blob(digest)
        self.far.drop_blob(digest)

    def get_action_result(self, key: str) -> ActionResult | None:
        return self.near.get_action_result(key) or self.far.get_action_result(key)

    def put_action_result(self, key: str, result: ActionResult) -> None:
        self.near.put_action_result(key, result)
        self.far.put_action_result(key, result)

    def drop_action_result(self, key: str) -> None:
        self.near.drop_action_result(key)
        self.far.drop_action_result(key)
