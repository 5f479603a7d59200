"""Remote execution: run ppm actions through REAPI Execute on whatever workers the server has.

The Executor seam's remote implementation. The engine has asked the layered store first (the
server's action cache answers an action already run); on a miss the Action, its Command, its
Merkle tree and the input files the server lacks (FindMissingBlobs) are uploaded, then Execute
is followed until the operation is done. After a broken stream (the server restarted) the
action is submitted again: Execute is idempotent, the server merges it with the same action in
flight, and its action cache answers a finished one. The outputs stay on the server: the
Execution names them (out_dir None) and the engine fetches them, through the store, only when
something here needs them.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import grpc

from ppm.build.executor import ExecutorUnavailable
from ppm.build.localstore import LocalStore
from ppm.build.plan import PlannedAction
from ppm.build.results import ActionResult, Cancelled, Execution
from ppm.build.store import ActionRef
from ppm.core.errors import ActionFailed
from ppm.remote import retry
from ppm.remote.backend import RemoteUnavailable
from ppm.remote.cache import RemoteStore, outputs_of, remote_action
from ppm.remote.digest import Digest
from ppm.remote.mapping import RUNNER, RemoteAction, pb_digest
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


class RemoteExecutor:
    """The Executor protocol (ppm.build.executor) over REAPI Execute. `store` is the remote store
    on the same server (its Link says whether the server is reachable); `near` the local store,
    where the outputs of needs that ran here are read from when the server lacks them."""

    def __init__(self, client: ReapiClient, store: RemoteStore, near: LocalStore) -> None:
        self.client = client
        self.store = store
        self.link = store.link
        self.near = near
        self._cancel = threading.Event()

    def execute(self, pa: PlannedAction, ref: ActionRef) -> Execution:
        if self._cancel.is_set():
            raise Cancelled()
        if self.link.off.is_set():
            raise ExecutorUnavailable()
        try:
            ra = remote_action(ref)
            self._upload_inputs(ref, ra)
            result = self._run(ref, ra)
        except RemoteUnavailable as e:
            self.link.lost(ref.id, e)  # raises unless --remote-fallback local
            raise ExecutorUnavailable() from None
        log = result.stdout_raw + result.stderr_raw
        if result.exit_code != 0:
            worker = result.execution_metadata.worker or "a remote worker"
            return Execution(result.exit_code, log, failed_command=(*RUNNER, f"(on {worker})"))
        outputs = outputs_of(ref, result)
        if outputs is None:
            raise ActionFailed(f"{ref.id}: the remote worker did not return every declared output "
                               f"({', '.join(ref.ingredients['outputs'])})" + self._tail(result))
        return Execution(0, log, result=ActionResult(outputs, origin=self.client.url))

    def cancel(self) -> None:
        self._cancel.set()

    # -- inputs -----------------------------------------------------------------------------
    def _upload_inputs(self, ref: ActionRef, ra: RemoteAction) -> None:
        assert ref.root is not None
        sources: dict[Digest, bytes | Path] = dict(ra.blobs)
        for path, f in ra.files.items():
            if f.digest in sources:
                continue
            if path.startswith("project/"):
                sources[f.digest] = ref.root / path[len("project/"):]
            else:  # a need's output: from the local CAS when it is here (else the remote made it)
                local = self.near.cas_path(f.digest.hash)
                if local.is_file():
                    sources[f.digest] = local
        missing = self.client.find_missing(list(sources) + [f.digest for f in ra.files.values()])
        absent = [d for d in missing if d not in sources]
        if absent:
            raise RemoteUnavailable(f"the remote lost {len(absent)} input blob(s) of {ref.id} (first: {absent[0]})")
        self.client.upload({d: sources[d] for d in missing})

    # -- Execute ----------------------------------------------------------------------------
    def _run(self, ref: ActionRef, ra: RemoteAction) -> re_pb2.ActionResult:
        """Follow Execute (submitted again after a broken stream) until the result is there."""
        deadline = time.monotonic() + 3600
        delay = 0.2
        reuploaded = False
        while True:
            try:
                resp = self._follow(ref, ra)
            except (grpc.RpcError, _StreamEnded) as e:
                lost = isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.NOT_FOUND
                if isinstance(e, grpc.RpcError) and not transient(e) and not lost:
                    raise RemoteUnavailable(f"remote {self.client.url}: Execute failed: {e.code().name}: {e.details()}") from None
                if time.monotonic() > deadline:
                    raise RemoteUnavailable(f"remote {self.client.url}: gave up on {ref.id} after an hour of retries") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if resp.status.code == _FAILED_PRECONDITION and not reuploaded:
                # Blobs vanished from the server's CAS between upload and execution: send them again.
                reuploaded = True
                self._upload_inputs(ref, ra)
                continue
            if resp.status.code != 0:
                raise RemoteUnavailable(f"remote {self.client.url} could not run {ref.id}: "
                                        f"{resp.status.message or resp.status.code}")
            return resp.result

    def _follow(self, ref: ActionRef, ra: RemoteAction) -> re_pb2.ExecuteResponse:
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
                    raise RemoteUnavailable(f"remote {self.client.url}: {ref.id}: {op.error.message or op.error.code}")
                resp = re_pb2.ExecuteResponse()
                op.response.Unpack(resp)
                return resp
            raise _StreamEnded()  # the stream ended without a result: resume it
        except grpc.RpcError:
            if timed_out.is_set():
                props = ", ".join(f"{p.name}={p.value}" for p in ra.action.platform.properties)
                raise ActionFailed(
                    f"{ref.id}: no worker offers the platform it needs ({props}); waited "
                    f"{time.monotonic() - queued_since:.0f}s",
                    hint="start a `ppm worker` on such a machine, or raise PPM_REMOTE_QUEUE_TIMEOUT") from None
            raise
        finally:
            started.set()

    def _tail(self, result: re_pb2.ActionResult) -> str:
        text = (result.stdout_raw + result.stderr_raw).decode(errors="replace")
        lines = text.splitlines()[-TAIL:]
        return ("\n  its output:" + "".join(f"\n    {line}" for line in lines)) if lines else ""
