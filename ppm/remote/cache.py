"""The remote cache as a layer under the local store: local first, then remote.

On a local miss the action's REAPI digest is looked up remotely; a hit's output blobs are
downloaded, verified against their digests, added to the local CAS and action cache, and the
engine restores them from there like any local hit. What runs locally is uploaded (blobs the
remote lacks, then the ActionResult) unless uploads are off.

A remote that cannot be reached costs one warning: the layer switches itself off and the build
goes on locally. A corrupt blob is refused (logged), and the action is built here instead.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from ppm.build.layered import ActionRequest
from ppm.build.localstore import LocalStore as Store
from ppm.build.results import ActionResult, OutputFile
from ppm.remote.backend import CacheBackend, RemoteUnavailable
from ppm.remote.digest import BlobCorrupt, Digest
from ppm.remote.mapping import InputFile, RemoteAction, UnsafePath, to_remote
from ppm.remote.platform import platform_properties
from ppm.remote.protos import remote_execution_pb2 as re_pb2

log = logging.getLogger("ppm.remote")


def open_backend(url: str, headers: tuple[tuple[str, str], ...] = ()) -> CacheBackend:
    if url.startswith(("grpc://", "grpcs://")):
        from ppm.remote.reapi import ReapiClient

        return ReapiClient(url, headers=headers)
    from ppm.remote.http_cache import HttpCacheClient

    return HttpCacheClient(url, headers=headers)


def remote_action(req: ActionRequest) -> RemoteAction:
    """The REAPI Action for `req` (input sizes and modes from the project's files)."""
    # Sizes follow from the digests; modes are not part of the key, so none are sent (a need's
    # output keeps the mode its own action gave it).
    inputs = {p: InputFile(Digest(req.ingredients["inputs"][p], os.stat(req.root / p).st_size)) for p in req.inputs}
    deps = {ref: {rel: InputFile(Digest(o.digest, o.size), o.executable) for rel, o in outs.items()}
            for ref, outs in req.deps.items()}
    return to_remote(req.ingredients, inputs=inputs, deps=deps, outputs=list(req.outputs),
                     platform=platform_properties(req.tools, req.ingredients.get("host")))


class RemoteCache:
    executes = False

    def __init__(self, backend: CacheBackend, *, upload: bool = True, warn: Callable[[str], None] | None = None) -> None:
        self.backend = backend
        self.upload = upload
        self.warn = warn or (lambda msg: log.warning("warning: %s", msg))
        self._off = threading.Event()
        self._lock = threading.Lock()
        self.refused: set[Digest] = set()  # blobs refused for a digest mismatch: re-sent when we have them

    def _disable(self, e: Exception) -> None:
        with self._lock:
            if not self._off.is_set():
                self._off.set()
                self.warn(f"{e}; building locally without the remote cache")

    # -- lookup ---------------------------------------------------------------------------
    def fetch(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        if self._off.is_set():
            return None
        try:
            ra = remote_action(req)
            result = self.backend.get_action_result(ra.digest)
            if result is None or result.exit_code != 0:
                return None
            return self.adopt(req, result, store, download=download)
        except BlobCorrupt as e:
            if e.digest is not None:
                with self._lock:
                    self.refused.add(e.digest)
            self.warn(f"{req.id}: {e}; refused, building it locally")
            return None
        except RemoteUnavailable as e:
            self._unavailable(req, e)
            return None

    def _unavailable(self, req: ActionRequest, e: RemoteUnavailable) -> None:
        """A cache that cannot be reached is only an optimisation lost: warn once, go on."""
        self._disable(e)

    def adopt(self, req: ActionRequest, result: re_pb2.ActionResult, store: Store, *,
              download: bool = True) -> dict[str, OutputFile] | None:
        """A remote result's outputs (downloaded into the local store and its action cache when
        `download`); None when the result lacks a declared output."""
        want = {f"out/{o}": o for o in req.outputs}
        outputs: dict[str, OutputFile] = {}
        for f in result.output_files:
            if f.path not in want:
                continue  # never take a path the action did not declare
            outputs[want[f.path]] = OutputFile(f.digest.hash, f.digest.size_bytes, f.is_executable)
        if set(outputs) != set(req.outputs):
            return None  # an entry that lacks a declared output is a miss
        if download:
            self.download(outputs, store)
            store.put_action_result(req.key, ActionResult(outputs))
        return outputs

    def download(self, outputs: dict[str, OutputFile], store: Store) -> None:
        need = {Digest(o.digest, o.size): o for o in outputs.values() if not store.cas_path(o.digest).is_file()}
        if not need:
            return
        blobs = self.backend.read(list(need))
        tmp = store.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for d, o in need.items():
            path = tmp / f"remote-{uuid.uuid4().hex}"
            path.write_bytes(blobs[d])
            os.chmod(path, 0o755 if o.executable else 0o644)
            try:
                got = store.put_blob(path)
            finally:
                path.unlink(missing_ok=True)
            if got.digest != d.hash:  # the file changed between write and hash: never trust it
                raise BlobCorrupt(f"blob {d} changed on its way into the local store", d)

    def execute(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        return None  # a cache only: the engine runs the action here

    # -- upload ---------------------------------------------------------------------------
    def push(self, req: ActionRequest, outputs: dict[str, OutputFile], store: Store) -> None:
        if not self.upload or self._off.is_set():
            return
        try:
            ra = remote_action(req)
            result = re_pb2.ActionResult(exit_code=0)
            blobs: dict[Digest, bytes | Path] = {}
            for rel, o in sorted(outputs.items()):
                d = Digest(o.digest, o.size)
                result.output_files.add(path=f"out/{rel}", digest=re_pb2.Digest(hash=d.hash, size_bytes=d.size),
                                        is_executable=o.executable)
                blobs[d] = store.cas_path(o.digest)
            # The Action and Command travel with the result (as Bazel does), so the entry can be
            # inspected and re-run; the input files themselves only when executing remotely.
            for d, data in ra.blobs.items():
                blobs.setdefault(d, data)
            # A blob the remote served corrupt is re-sent even though the remote says it has it.
            missing = self.backend.find_missing(list(blobs)) | (self.refused & set(blobs))
            self.backend.upload({d: b for d, b in blobs.items() if d in missing})
            self.backend.update_action_result(ra.digest, result)
        except (RemoteUnavailable, UnsafePath) as e:
            self._disable(e) if isinstance(e, RemoteUnavailable) else self.warn(f"{req.id}: {e}")

    def close(self) -> None:
        self.backend.close()
