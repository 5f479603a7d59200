"""What a remote cache must do, whatever its protocol: the seam between ppm and REAPI / HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ppm.core.errors import PpmError
from ppm.remote.digest import Digest

if TYPE_CHECKING:  # protobuf is loaded only when a remote is used
    from ppm.remote.protos.remote_execution_pb2 import ActionResult

Blob = bytes | Path  # content in memory, or a file whose content it is (read when sent)


class RemoteUnavailable(PpmError):
    """The remote could not be reached (after retries) or refused to serve."""


class CacheBackend(Protocol):
    url: str

    def get_action_result(self, action: Digest) -> ActionResult | None: ...

    def update_action_result(self, action: Digest, result: ActionResult) -> None: ...

    def find_missing(self, digests: list[Digest]) -> set[Digest]: ...

    def upload(self, blobs: dict[Digest, Blob]) -> None: ...

    def read(self, digests: list[Digest]) -> dict[Digest, bytes]:
        """Each blob's content, verified against its digest (BlobCorrupt otherwise)."""
        ...

    def close(self) -> None: ...


def read_blob(b: Blob) -> bytes:
    return b if isinstance(b, bytes) else b.read_bytes()
