"""Bazel's HTTP cache protocol: GET/HEAD/PUT <base>/cas/<sha256> and <base>/ac/<action sha256>.

An `ac` entry is a serialized ActionResult. The protocol carries no sizes, so a blob read here
is checked against both the hash and the size the ActionResult promised.
"""

from __future__ import annotations

import httpx
from google.protobuf.message import DecodeError

from ppm.remote import retry
from ppm.remote.backend import Blob, RemoteUnavailable, read_blob
from ppm.remote.digest import Digest, verified
from ppm.remote.protos import remote_execution_pb2 as re_pb2


class _ServerError(Exception):
    """A 5xx answer: worth retrying."""


def transient(e: BaseException) -> bool:
    return isinstance(e, httpx.TransportError | _ServerError)


class HttpCacheClient:
    def __init__(self, url: str, *, headers: tuple[tuple[str, str], ...] = (),
                 policy: retry.RetryPolicy = retry.DEFAULT) -> None:
        self.url = url
        self.base = url.rstrip("/")
        self.policy = policy
        self.http = httpx.Client(headers=dict(headers), timeout=policy.timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        def once() -> httpx.Response:
            r = self.http.request(method, f"{self.base}/{path}", content=body)
            if r.status_code >= 500:
                raise _ServerError(f"{r.status_code} {r.reason_phrase}")
            return r

        try:
            r = retry.call(once, transient=transient, policy=self.policy)
        except (httpx.HTTPError, _ServerError) as e:
            raise RemoteUnavailable(f"remote {self.url}: {method} {path} failed: {e}") from None
        if r.status_code in (401, 403):
            raise RemoteUnavailable(f"remote {self.url}: {method} {path} was refused ({r.status_code})",
                                    hint="set PPM_REMOTE_TOKEN or PPM_REMOTE_HEADERS for this cache")
        return r

    def get_action_result(self, action: Digest) -> re_pb2.ActionResult | None:
        r = self._request("GET", f"ac/{action.hash}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RemoteUnavailable(f"remote {self.url}: GET ac/{action.hash}: {r.status_code}")
        result = re_pb2.ActionResult()
        try:
            result.ParseFromString(r.content)
        except DecodeError:  # an unreadable entry is a miss, never a hit
            return None
        return result

    def update_action_result(self, action: Digest, result: re_pb2.ActionResult) -> None:
        self._put(f"ac/{action.hash}", result.SerializeToString(deterministic=True))

    def _put(self, path: str, data: bytes) -> None:
        r = self._request("PUT", path, data)
        if r.status_code not in (200, 201, 204):
            raise RemoteUnavailable(f"remote {self.url}: PUT {path}: {r.status_code} {r.reason_phrase}")

    def find_missing(self, digests: list[Digest]) -> set[Digest]:
        return {d for d in set(digests) if self._request("HEAD", f"cas/{d.hash}").status_code != 200}

    def upload(self, blobs: dict[Digest, Blob]) -> None:
        for d, b in sorted(blobs.items()):
            self._put(f"cas/{d.hash}", read_blob(b))

    def read(self, digests: list[Digest]) -> dict[Digest, bytes]:
        out: dict[Digest, bytes] = {}
        for d in sorted(set(digests)):
            r = self._request("GET", f"cas/{d.hash}")
            if r.status_code != 200:
                raise RemoteUnavailable(f"remote {self.url} has no blob {d} ({r.status_code})")
            out[d] = verified(r.content, d, f"remote {self.url}")
        return out
