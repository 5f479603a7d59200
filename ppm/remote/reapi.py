"""A REAPI client (gRPC): CAS, ActionCache, ByteStream, Capabilities and Execution.

Blobs up to the server's batch limit travel in BatchUpdateBlobs / BatchReadBlobs; bigger
ones through ByteStream in 1 MiB chunks. Every call goes through `retry.call`; every blob read
is verified against its digest before it is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc

from ppm.remote import retry
from ppm.remote.backend import Blob, RemoteUnavailable, read_blob
from ppm.remote.digest import Digest, verified
from ppm.remote.mapping import from_pb, pb_digest
from ppm.remote.protos import bytestream_pb2 as bs_pb2
from ppm.remote.protos import bytestream_pb2_grpc as bs_grpc
from ppm.remote.protos import remote_execution_pb2 as re_pb2
from ppm.remote.protos import remote_execution_pb2_grpc as re_grpc

CHUNK = 1 << 20
DEFAULT_BATCH = 4 << 20  # what BuildGrid and most servers accept when they do not say
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED}
_OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20),
            ("grpc.enable_retries", 0)]


def transient(e: BaseException) -> bool:
    return isinstance(e, grpc.RpcError) and e.code() in _TRANSIENT


def open_channel(url: str) -> tuple[grpc.Channel, str]:
    """A channel to grpc[s]://HOST:PORT[/INSTANCE], and the instance name."""
    parts = urlsplit(url)
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'grpcs' else 80)}"
    if parts.scheme == "grpcs":
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=_OPTIONS)
    else:
        channel = grpc.insecure_channel(target, options=_OPTIONS)
    return channel, parts.path.strip("/")


class ReapiClient:
    def __init__(self, url: str, *, headers: tuple[tuple[str, str], ...] = (),
                 policy: retry.RetryPolicy = retry.DEFAULT) -> None:
        self.url = url
        self.channel, self.instance = open_channel(url)
        self.metadata = tuple(headers)
        self.policy = policy
        self.cas = re_grpc.ContentAddressableStorageStub(self.channel)
        self.ac = re_grpc.ActionCacheStub(self.channel)
        self.caps = re_grpc.CapabilitiesStub(self.channel)
        self.execution = re_grpc.ExecutionStub(self.channel)
        self.bytestream = bs_grpc.ByteStreamStub(self.channel)
        self._batch_limit: int | None = None

    def close(self) -> None:
        self.channel.close()

    def _call(self, what: str, fn: Callable[..., Any], request: Any) -> Any:
        def once() -> Any:
            return fn(request, timeout=self.policy.timeout, metadata=self.metadata)

        try:
            return retry.call(once, transient=transient, policy=self.policy)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                raise
            raise RemoteUnavailable(f"remote {self.url}: {what} failed: {e.code().name}: {e.details()}") from None

    # -- capabilities ---------------------------------------------------------------------
    def batch_limit(self) -> int:
        if self._batch_limit is None:
            caps = self._call("GetCapabilities", self.caps.GetCapabilities,
                              re_pb2.GetCapabilitiesRequest(instance_name=self.instance))
            n = caps.cache_capabilities.max_batch_total_size_bytes
            # Leave room for the request's own framing: digests and field tags.
            self._batch_limit = (n if n > 0 else DEFAULT_BATCH) - (64 << 10)
        return self._batch_limit

    # -- action cache ---------------------------------------------------------------------
    def get_action_result(self, action: Digest) -> re_pb2.ActionResult | None:
        req = re_pb2.GetActionResultRequest(instance_name=self.instance, action_digest=pb_digest(action))
        try:
            return self._call("GetActionResult", self.ac.GetActionResult, req)
        except grpc.RpcError:  # NOT_FOUND: a miss
            return None

    def update_action_result(self, action: Digest, result: re_pb2.ActionResult) -> None:
        req = re_pb2.UpdateActionResultRequest(instance_name=self.instance, action_digest=pb_digest(action),
                                               action_result=result)
        self._call("UpdateActionResult", self.ac.UpdateActionResult, req)

    # -- CAS ------------------------------------------------------------------------------
    def find_missing(self, digests: list[Digest]) -> set[Digest]:
        missing: set[Digest] = set()
        uniq = sorted(set(digests))
        for i in range(0, len(uniq), 1000):
            req = re_pb2.FindMissingBlobsRequest(instance_name=self.instance,
                                                 blob_digests=[pb_digest(d) for d in uniq[i:i + 1000]])
            resp = self._call("FindMissingBlobs", self.cas.FindMissingBlobs, req)
            missing.update(from_pb(d) for d in resp.missing_blob_digests)
        return missing

    def upload(self, blobs: dict[Digest, Blob]) -> None:
        limit = self.batch_limit()
        batch: list[re_pb2.BatchUpdateBlobsRequest.Request] = []
        size = 0
        for d, b in sorted(blobs.items()):
            if d.size > limit:
                self._write(d, b)
                continue
            if size + d.size > limit:
                self._batch_update(batch)
                batch, size = [], 0
            batch.append(re_pb2.BatchUpdateBlobsRequest.Request(digest=pb_digest(d), data=read_blob(b)))
            size += d.size
        if batch:
            self._batch_update(batch)

    def _batch_update(self, batch: list[re_pb2.BatchUpdateBlobsRequest.Request]) -> None:
        req = re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance, requests=batch)
        resp = self._call("BatchUpdateBlobs", self.cas.BatchUpdateBlobs, req)
        bad = [f"{r.digest.hash}: {r.status.message or r.status.code}" for r in resp.responses if r.status.code != 0]
        if bad:
            raise RemoteUnavailable(f"remote {self.url} refused {len(bad)} blob(s): {bad[0]}")

    def _resource(self, d: Digest, *, upload: bool) -> str:
        prefix = f"{self.instance}/" if self.instance else ""
        middle = f"uploads/{uuid.uuid4()}/" if upload else ""
        return f"{prefix}{middle}blobs/{d.hash}/{d.size}"

    def _write(self, d: Digest, b: Blob) -> None:
        def chunks() -> Iterator[bs_pb2.WriteRequest]:
            name = self._resource(d, upload=True)
            if isinstance(b, Path):
                with open(b, "rb") as f:
                    offset = 0
                    while True:
                        data = f.read(CHUNK)
                        last = offset + len(data) >= d.size
                        yield bs_pb2.WriteRequest(resource_name=name if offset == 0 else "", write_offset=offset,
                                                  finish_write=last, data=data)
                        offset += len(data)
                        if last:
                            return
            else:
                for offset in range(0, max(len(b), 1), CHUNK):
                    yield bs_pb2.WriteRequest(resource_name=name if offset == 0 else "", write_offset=offset,
                                              finish_write=offset + CHUNK >= len(b), data=b[offset:offset + CHUNK])

        def once() -> bs_pb2.WriteResponse:
            return self.bytestream.Write(chunks(), timeout=self.policy.timeout * 4, metadata=self.metadata)

        try:
            resp = retry.call(once, transient=transient, policy=self.policy)
        except grpc.RpcError as e:
            raise RemoteUnavailable(f"remote {self.url}: ByteStream.Write of {d} failed: "
                                    f"{e.code().name}: {e.details()}") from None
        if resp.committed_size != d.size:
            raise RemoteUnavailable(f"remote {self.url}: ByteStream.Write of {d} committed {resp.committed_size} bytes")

    def read(self, digests: list[Digest]) -> dict[Digest, bytes]:
        limit = self.batch_limit()
        out: dict[Digest, bytes] = {}
        batch: list[Digest] = []
        size = 0
        for d in sorted(set(digests)):
            if d.size == 0:
                out[d] = b""
            elif d.size > limit:
                out[d] = self._read_stream(d)
            else:
                if size + d.size > limit:
                    out.update(self._batch_read(batch))
                    batch, size = [], 0
                batch.append(d)
                size += d.size
        if batch:
            out.update(self._batch_read(batch))
        return out

    def _batch_read(self, batch: list[Digest]) -> dict[Digest, bytes]:
        req = re_pb2.BatchReadBlobsRequest(instance_name=self.instance, digests=[pb_digest(d) for d in batch])
        resp = self._call("BatchReadBlobs", self.cas.BatchReadBlobs, req)
        got: dict[Digest, bytes] = {}
        for r in resp.responses:
            d = from_pb(r.digest)
            if d not in batch:
                continue  # an answer to a question not asked is ignored
            if r.status.code != 0:
                raise RemoteUnavailable(f"remote {self.url} could not serve blob {d}: {r.status.message or r.status.code}")
            got[d] = verified(r.data, d, f"remote {self.url}")
        missing = [d for d in batch if d not in got]
        if missing:
            raise RemoteUnavailable(f"remote {self.url} did not return blob {missing[0]}")
        return got

    def _read_stream(self, d: Digest) -> bytes:
        def once() -> bytes:
            parts = []
            for resp in self.bytestream.Read(bs_pb2.ReadRequest(resource_name=self._resource(d, upload=False)),
                                             timeout=self.policy.timeout * 4, metadata=self.metadata):
                parts.append(resp.data)
            return b"".join(parts)

        try:
            data = retry.call(once, transient=transient, policy=self.policy)
        except grpc.RpcError as e:
            raise RemoteUnavailable(f"remote {self.url}: ByteStream.Read of {d} failed: {e.code().name}: {e.details()}") from None
        return verified(data, d, f"remote {self.url}")
