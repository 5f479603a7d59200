"""Remote execution: run ppm actions through REAPI Execute on whatever workers the server has.

Per action: the remote cache is asked first (by `RemoteCache.fetch`); on a miss the Action,
its Command, its Merkle tree and the input files the server lacks (FindMissingBlobs) are
uploaded, then Execute is followed until the operation is done. After a broken stream (the
server restarted) the action is submitted again: Execute is idempotent, the server merges it
with the same action in flight, and its action cache answers a finished one. Outputs are downloaded only when the
engine says the action's outputs are needed here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from ppm.build.layered import ActionRequest
from ppm.build.localstore import LocalStore as Store
from ppm.build.results import OutputFile
from ppm.core.errors import ActionFailed
from ppm.remote import retry
from ppm.remote.backend import RemoteUnavailable
from ppm.remote.cache import RemoteCache, remote_action
from ppm.remote.digest import Digest
from ppm.remote.mapping import RemoteAction, pb_digest
from ppm.remote.protos import remote_execution_pb2 as re_pb2
from ppm.remote.reapi import ReapiClient, transient

TAIL = 30
# A build that asked for remote execution rides out a server restart (~20 s of retries) rather
# than failing at the first refused connection; a cache alone gives up sooner (retry.DEFAULT).
EXECUTION_RETRIES = retry.RetryPolicy(attempts=12, first_delay=0.2, max_delay=5.0)
_FAILED_PRECONDITION = 9


def queue_timeout() -> float:
    """How long an action may wait for a worker with its platform before the build gives up."""
    try:
        return float(os.environ.get("PPM_REMOTE_QUEUE_TIMEOUT", "600"))
    except ValueError:
        return 600.0


class _StreamEnded(Exception):
    """Execute's stream closed before the operation was done."""


class RemoteExecution(RemoteCache):
    executes = True

    def __init__(self, client: ReapiClient, *, upload: bool = True, fallback: str = "none", warn: Callable[[str], None] | None = None) -> None:
        super().__init__(client, upload=upload, warn=warn)
        self.client = client
        self.fallback = fallback
        self._exec_off = threading.Event()

    def fetch(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        if self._exec_off.is_set():
            return None
        return super().fetch(req, store, download=download)

    def push(self, req: ActionRequest, outputs: dict[str, OutputFile], store: Store) -> None:
        if not self._exec_off.is_set():
            super().push(req, outputs, store)

    def _unavailable(self, req: ActionRequest, e: RemoteUnavailable) -> None:
        """Execution was asked for: fail clearly, unless the user allowed building here."""
        if self.fallback != "local":
            raise ActionFailed(f"{req.id}: remote execution failed: {e}",
                               hint="pass --remote-fallback local to build here when the executor is unreachable")
        with self._lock:
            if not self._exec_off.is_set():
                self._exec_off.set()
                self._off.set()
                self.warn(f"{e}; building locally (--remote-fallback local)")

    def execute(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        if self._exec_off.is_set():
            return None
        try:
            ra = remote_action(req)
            self._upload_inputs(req, ra, store)
            result = self._run(req, ra, store)
        except RemoteUnavailable as e:
            self._unavailable(req, e)
            return None
        if result.exit_code != 0:
            raise ActionFailed(f"{req.id} failed on a remote worker (exit {result.exit_code})" + self._tail(result))
        outputs = self.adopt(req, result, store, download=download)
        if outputs is None:
            raise ActionFailed(f"{req.id}: the remote worker did not return every declared output "
                               f"({', '.join(req.outputs)})" + self._tail(result))
        return outputs

    # -- inputs -----------------------------------------------------------------------------
    def _upload_inputs(self, req: ActionRequest, ra: RemoteAction, store: Store) -> None:
        sources: dict[Digest, bytes | Path] = dict(ra.blobs)
        for path, f in ra.files.items():
            if f.digest in sources:
                continue
            if path.startswith("project/"):
                sources[f.digest] = req.root / path[len("project/"):]
            else:  # a need's output: from the local CAS when it is here (else the remote made it)
                local = store.cas_path(f.digest.hash)
                if local.is_file():
                    sources[f.digest] = local
        missing = self.client.find_missing(list(sources) + [f.digest for f in ra.files.values()])
        absent = [d for d in missing if d not in sources]
        if absent:
            raise RemoteUnavailable(f"the remote lost {len(absent)} input blob(s) of {req.id} (first: {absent[0]})")
        self.client.upload({d: sources[d] for d in missing})

    # -- Execute ----------------------------------------------------------------------------
    def _run(self, req: ActionRequest, ra: RemoteAction, store: Store) -> re_pb2.ActionResult:
        """Follow Execute (submitted again after a broken stream) until the result is there."""
        deadline = time.monotonic() + 3600
        delay = 0.2
        reuploaded = False
        while True:
            try:
                resp = self._follow(req, ra)
            except (grpc.RpcError, _StreamEnded) as e:
                lost = isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.NOT_FOUND
                if isinstance(e, grpc.RpcError) and not transient(e) and not lost:
                    raise RemoteUnavailable(f"remote {self.client.url}: Execute failed: {e.code().name}: {e.details()}") from None
                if time.monotonic() > deadline:
                    raise RemoteUnavailable(f"remote {self.client.url}: gave up on {req.id} after an hour of retries") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if resp.status.code == _FAILED_PRECONDITION and not reuploaded:
                # Blobs vanished from the server's CAS between upload and execution: send them again.
                reuploaded = True
                self._upload_inputs(req, ra, store)
                continue
            if resp.status.code != 0:
                raise RemoteUnavailable(f"remote {self.client.url} could not run {req.id}: "
                                        f"{resp.status.message or resp.status.code}")
            return resp.result

    def _follow(self, req: ActionRequest, ra: RemoteAction) -> re_pb2.ExecuteResponse:
        call = self.client.execution.Execute(
            re_pb2.ExecuteRequest(instance_name=self.client.instance, action_digest=pb_digest(ra.digest)),
            metadata=self.client.metadata)
        queued_since = time.monotonic()
        timed_out = threading.Event()
        started = threading.Event()

        def watchdog() -> None:
            if not started.wait(queue_timeout()):
                timed_out.set()
                call.cancel()

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            for op in call:
                meta = re_pb2.ExecuteOperationMetadata()
                if op.metadata.Unpack(meta) and meta.stage >= re_pb2.ExecutionStage.EXECUTING:
                    started.set()
                if not op.done:
                    continue
                started.set()
                if op.HasField("error"):
                    raise RemoteUnavailable(f"remote {self.client.url}: {req.id}: {op.error.message or op.error.code}")
                resp = re_pb2.ExecuteResponse()
                op.response.Unpack(resp)
                return resp
            raise _StreamEnded()  # the stream ended without a result: resume it
        except grpc.RpcError:
            if timed_out.is_set():
                props = ", ".join(f"{p.name}={p.value}" for p in ra.action.platform.properties)
                raise ActionFailed(
                    f"{req.id}: no worker offers the platform it needs ({props}); waited "
                    f"{time.monotonic() - queued_since:.0f}s",
                    hint="start a `ppm worker` on such a machine, or raise PPM_REMOTE_QUEUE_TIMEOUT") from None
            raise
        finally:
            started.set()

    def _tail(self, result: re_pb2.ActionResult) -> str:
        text = (result.stdout_raw + result.stderr_raw).decode(errors="replace")
        lines = text.splitlines()[-TAIL:]
        return ("\n  its output:" + "".join(f"\n    {line}" for line in lines)) if lines else ""
