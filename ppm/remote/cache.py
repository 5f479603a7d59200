"""The remote store: the Store seam (ppm.build.store) over a REAPI or Bazel-HTTP cache.

It sits behind the local store in a LayeredStore: the engine asks it only after a local miss.
An action result is looked up under the REAPI digest of the action the reference describes
(ppm.remote.mapping: one-to-one with ppm's key); a hit comes back with its `origin` set and its
blobs left on the remote, for the engine to fetch through the layered store when it needs them.
A result recorded here (after a local run) brings the blobs it names, the Action, its Command
and its input tree: one FindMissingBlobs, one batch of what is missing, then the entry.

Every blob read is checked against its digest by the transport as it arrives, and again by the
engine above the seam (ppm.build.cache) before use; a refusal is logged and the action rebuilt
here, and a blob the remote served corrupt is sent again once this machine has the good one.

A remote that cannot be reached costs one warning (the Link switches it off, and the build goes
on locally), unless execution was asked for without `--remote-fallback local`: then the build
fails naming the remote.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from ppm.build.localstore import LocalStore
from ppm.build.results import ActionResult, OutputFile
from ppm.build.store import ActionRef
from ppm.core.errors import ActionFailed
from ppm.remote.backend import CacheBackend, RemoteUnavailable
from ppm.remote.digest import BlobCorrupt, Digest
from ppm.remote.mapping import InputFile, RemoteAction, UnsafePath, to_remote
from ppm.remote.protos import remote_execution_pb2 as re_pb2

log = logging.getLogger("ppm.remote")


def open_backend(url: str, headers: tuple[tuple[str, str], ...] = ()) -> CacheBackend:
    if url.startswith(("grpc://", "grpcs://")):
        from ppm.remote.reapi import ReapiClient

        return ReapiClient(url, headers=headers)
    from ppm.remote.http_cache import HttpCacheClient

    return HttpCacheClient(url, headers=headers)


def remote_action(ref: ActionRef) -> RemoteAction:
    """The REAPI Action for `ref` (input sizes from the project's files)."""
    ing = ref.ingredients
    if ref.root is None or not ing:
        raise UnsafePath(f"{ref.id or ref.key}: no ingredients to name the remote action by")
    # Sizes follow from the digests; modes are not part of the key, so none are sent (a need's
    # output keeps the mode its own action gave it).
    inputs = {p: InputFile(Digest(d, os.stat(ref.root / p).st_size)) for p, d in ing["inputs"].items()}
    deps = {r: {rel: InputFile(Digest(o.digest, o.size), o.executable) for rel, o in outs.items()}
            for r, outs in ref.deps.items()}
    return to_remote(ing, inputs=inputs, deps=deps, outputs=list(ing["outputs"]), platform=list(ref.platform))


def outputs_of(ref: ActionRef, result: re_pb2.ActionResult) -> dict[str, OutputFile] | None:
    """A remote result's declared outputs; None when it lacks one (never a path not declared)."""
    declared = list(ref.ingredients.get("outputs", ()))
    want = {f"out/{o}": o for o in declared}
    outputs: dict[str, OutputFile] = {}
    for f in result.output_files:
        if f.path in want:
            outputs[want[f.path]] = OutputFile(f.digest.hash, f.digest.size_bytes, f.is_executable)
    return outputs if set(outputs) == set(declared) else None


class Link:
    """One remote's health, shared by its store and its executor: what happens when it cannot
    be reached. `required` (execution without --remote-fallback local) makes that fatal."""

    def __init__(self, url: str, *, warn: Callable[[str], None], required: bool = False, fallback: str = "") -> None:
        self.url = url
        self.warn = warn
        self.required = required
        self.note = fallback or "building locally without the remote cache"
        self.off = threading.Event()
        self._lock = threading.Lock()

    def lost(self, what: str, e: RemoteUnavailable) -> None:
        if self.required:
            raise ActionFailed(f"{what}: remote execution failed: {e}",
                               hint="pass --remote-fallback local to build here when the executor is unreachable")
        with self._lock:
            if not self.off.is_set():
                self.off.set()
                self.warn(f"{e}; {self.note}")


class RemoteStore:
    """The Store protocol over a remote cache (see the module's docstring). `near` is the local
    store whose CAS holds the blobs a result recorded here names."""

    def __init__(self, backend: CacheBackend, link: Link, near: LocalStore, *, upload: bool = True) -> None:
        self.backend = backend
        self.link = link
        self.near = near
        self.upload = upload
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # blobs named by results found here: digest -> size
        self._refused: set[str] = set()  # blobs served corrupt: re-sent when we have them
        self._dropped: set[str] = set()  # keys whose entries were refused: misses for this build

    # -- blobs ----------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        """Whether a result found here named the blob (the remote itself is not asked: REAPI
        names a blob by digest and size, and a cheap check must not cost a round trip)."""
        with self._lock:
            return digest in self._seen and digest not in self._refused

    def put_blob(self, path: Path) -> OutputFile:
        o = self.near.put_blob(path)
        if self.upload and not self.link.off.is_set():
            d = Digest(o.digest, o.size)
            try:
                if self.backend.find_missing([d]):
                    self.backend.upload({d: self.near.cas_path(o.digest)})
            except RemoteUnavailable as e:
                self.link.lost(f"blob {d}", e)
        return o

    def get_blob(self, blob: OutputFile, dest: Path) -> None:
        """The blob's bytes at `dest`; FileNotFoundError when the remote cannot give them (a
        corrupt blob is refused here already, and the refusal logged)."""
        d = Digest(blob.digest, blob.size)
        if self.link.off.is_set():
            raise FileNotFoundError(f"remote {self.link.url} is off")
        try:
            data = self.backend.read([d])[d]
        except BlobCorrupt as e:
            self.drop_blob(blob.digest)
            self.link.warn(f"{e}; refused, building it locally")
            raise FileNotFoundError(str(e)) from None
        except RemoteUnavailable as e:
            self.link.lost(f"blob {d}", e)
            raise FileNotFoundError(str(e)) from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.remote")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o755 if blob.executable else 0o644)
        os.replace(tmp, dest)

    def drop_blob(self, digest: str) -> None:
        """REAPI has no delete: the blob is remembered as refused, and sent again with the next
        result that names it."""
        with self._lock:
            self._refused.add(digest)

    # -- action results ---------------------------------------------------------------------
    def get_action_result(self, ref: ActionRef) -> ActionResult | None:
        if self.link.off.is_set() or ref.key in self._dropped:
            return None
        try:
            result = self.backend.get_action_result(remote_action(ref).digest)
        except RemoteUnavailable as e:
            self.link.lost(ref.id or ref.key, e)
            return None
        except UnsafePath as e:
            log.debug("%s: %s", ref.id, e)
            return None
        if result is None or result.exit_code != 0:
            return None
        outputs = outputs_of(ref, result)
        if outputs is None:
            return None  # an entry that lacks a declared output is a miss
        with self._lock:
            self._seen.update((o.digest, o.size) for o in outputs.values())
        return ActionResult(outputs, origin=self.link.url)

    def put_action_result(self, ref: ActionRef, result: ActionResult) -> None:
        """Offer a local run's result (and the blobs it names, from the local store) to the
        remote; nothing when uploads are off (read-only: untrusted runs)."""
        if not self.upload or self.link.off.is_set():
            return
        try:
            ra = remote_action(ref)
            entry = re_pb2.ActionResult(exit_code=0)
            blobs: dict[Digest, bytes | Path] = {}
            for rel, o in sorted(result.outputs.items()):
                d = Digest(o.digest, o.size)
                entry.output_files.add(path=f"out/{rel}", digest=re_pb2.Digest(hash=d.hash, size_bytes=d.size),
                                       is_executable=o.executable)
                blobs[d] = self.near.cas_path(o.digest)
            # The Action and Command travel with the result (as Bazel does), so the entry can be
            # inspected and re-run; the input files themselves only when executing remotely.
            for d, data in ra.blobs.items():
                blobs.setdefault(d, data)
            with self._lock:
                refused = {d for d in blobs if d.hash in self._refused}
            missing = self.backend.find_missing(list(blobs)) | refused
            self.backend.upload({d: b for d, b in blobs.items() if d in missing})
            self.backend.update_action_result(ra.digest, entry)
            with self._lock:
                self._refused -= {d.hash for d in refused}
        except RemoteUnavailable as e:
            self.link.lost(ref.id or ref.key, e)
        except UnsafePath as e:
            self.link.warn(f"{ref.id}: {e}")

    def drop_action_result(self, ref: ActionRef) -> None:
        """REAPI has no delete: a refused entry is a miss for the rest of this build, and the
        local run that follows replaces it."""
        with self._lock:
            self._dropped.add(ref.key)

    def close(self) -> None:
        self.backend.close()
