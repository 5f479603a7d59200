"""Caching above the Store seam, written once for every store: look an action up and restore
its outputs, each blob checked against its digest before use; record a fresh result."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ppm.build.results import ActionResult, OutputFile
from ppm.build.store import ActionRef, Store
from ppm.core.fsutil import rmtree, sha256_file


class CorruptEntry(Exception):
    """A cached result named a blob that was missing or did not match its digest."""


def restore(store: Store, result: ActionResult, into: Path) -> None:
    """Place `result`'s outputs under `into`, each verified. On a missing or corrupt blob the
    blob is dropped, `into` removed, and CorruptEntry raised."""
    for rel, blob in result.outputs.items():
        dest = into / rel
        try:
            store.get_blob(blob, dest)
            ok = os.stat(dest).st_size == blob.size and sha256_file(dest) == blob.digest
        except FileNotFoundError:
            ok = False
        if not ok:
            store.drop_blob(blob.digest)
            rmtree(into)
            raise CorruptEntry(f"{rel}: blob {blob.digest[:12]} missing or corrupt")


def lookup(store: Store, ref: ActionRef, into: Path) -> tuple[ActionResult | None, bool]:
    """The cached result for `ref` with its outputs restored under `into`, or None; and whether
    a corrupt entry was found (and dropped) on the way."""
    result = store.get_action_result(ref)
    if result is None:
        return None, False
    try:
        adopt(store, ref, result, into)
    except CorruptEntry:
        return None, True
    return result, False


def adopt(store: Store, ref: ActionRef, result: ActionResult, into: Path) -> None:
    """Restore `result`'s outputs under `into` (verified); a result that came from a remote is
    then recorded in the store, so the next lookup is local. On a missing or corrupt blob the
    entry is dropped and CorruptEntry raised."""
    try:
        restore(store, result, into)
    except CorruptEntry:
        store.drop_action_result(ref)
        raise
    if result.origin:
        store.put_action_result(ref, result)


def record(store: Store, ref: ActionRef, out_dir: Path, outputs: Iterable[str], log: bytes, log_file: Path) -> ActionResult:
    """Put a successful run's outputs (and its log, when it printed something) into the store,
    then its result: the entry appears only once every blob it names is there. `log_file` is a
    free scratch path the log is written to on its way into the store."""
    blobs: Mapping[str, OutputFile] = {rel: store.put_blob(out_dir / rel) for rel in outputs}
    stdout_digest = ""
    if log:
        log_file.write_bytes(log)
        stdout_digest = store.put_blob(log_file).digest
    result = ActionResult(dict(blobs), 0, stdout_digest)
    store.put_action_result(ref, result)
    return result
