"""The store seam: where blobs and action results live.

A store holds content-addressed blobs (output files, logs) and action results under action
references. The local store (SQLite action cache + CAS directory) implements it, and so does the
remote one (ppm.remote.store: REAPI or Bazel HTTP); LayeredStore puts the local store in front of
the remote one.

An action result is looked up by an ActionRef, not a bare key: the local store needs only the
key, but a REAPI action cache is keyed by the action digest, which is derived from the key's
ingredients (ppm.remote.mapping), so the reference carries them.

A store promises nothing about the bytes it hands back: the engine checks every blob against
its digest before use, once, above this interface (see ppm.build.cache).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ppm.build.platform import platform_of
from ppm.build.results import ActionResult, OutputFile


@dataclass(frozen=True)
class ActionRef:
    """One action as a store sees it: its key, and what a remote store needs to name it.

    `ingredients` hash to `key` (ppm.build.keys); `platform` is the REAPI platform the action
    needs (OSFamily, ISA, toolchains), a function of the ingredients; `root` is where its input
    files are read and `deps` the outputs of the actions it needs (their sizes and modes are in
    the Merkle tree, not in the key). A local store reads `key` alone."""

    key: str
    id: str = ""  # the action's id, for messages
    ingredients: Mapping[str, Any] = field(default_factory=dict, compare=False)
    root: Path | None = field(default=None, compare=False)
    deps: Mapping[str, Mapping[str, OutputFile]] = field(default_factory=dict, compare=False)

    @functools.cached_property
    def platform(self) -> tuple[tuple[str, str], ...]:
        """Computed when a remote first asks (a local build never does)."""
        return platform_of(self.ingredients)


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

    def get_action_result(self, ref: ActionRef) -> ActionResult | None:
        """The result recorded for the action, or None. A remote store's result says so in
        `origin`: its blobs may be held only there."""
        ...

    def put_action_result(self, ref: ActionRef, result: ActionResult) -> None:
        """Record a result; call only once every blob it names has been put."""
        ...

    def drop_action_result(self, ref: ActionRef) -> None:
        """Forget a result whose blobs turned out missing or corrupt."""
        ...


class LayeredStore:
    """A fast store in front of a slow one (local first, then remote).

    Reads try `near` first; a blob found only in `far` is copied into `near` as it is placed,
    so the next read is local. A result found only in `far` is returned as it is (its `origin`
    says where it came from): the engine decides whether its blobs are needed here, and records
    it near once they are. Blobs are written near; `far` receives them with the result that
    names them (in one batch: see ppm.remote.store), and a result that came from `far` is not
    sent back there."""

    def __init__(self, near: Store, far: Store) -> None:
        self.near = near
        self.far = far

    def has_blob(self, digest: str) -> bool:
        return self.near.has_blob(digest) or self.far.has_blob(digest)

    def put_blob(self, path: Path) -> OutputFile:
        return self.near.put_blob(path)

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

    def get_action_result(self, ref: ActionRef) -> ActionResult | None:
        return self.near.get_action_result(ref) or self.far.get_action_result(ref)

    def put_action_result(self, ref: ActionRef, result: ActionResult) -> None:
        self.near.put_action_result(ref, result)
        if not result.origin:
            self.far.put_action_result(ref, result)

    def drop_action_result(self, ref: ActionRef) -> None:
        self.near.drop_action_result(ref)
        self.far.drop_action_result(ref)
