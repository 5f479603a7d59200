"""The seam between the engine and what lies beyond this machine (a remote cache, an executor).

The engine asks the local store first; only on a local miss does it ask the remote layer, and
what it runs locally it offers back. The layer is a protocol so that ppm.build never imports
ppm.remote (same layer) nor grpc: the CLI builds the implementation and hands it in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ppm.build.localstore import LocalStore as Store
from ppm.build.results import OutputFile


@dataclass(frozen=True)
class ActionRequest:
    """What the remote layer needs to know about one action: pure data, no paths in the key."""

    id: str
    key: str
    ingredients: dict[str, Any]  # the canonical JSON of these hashes to `key`
    root: Path  # the project, where `inputs` are read from
    inputs: tuple[str, ...]
    deps: dict[str, dict[str, OutputFile]] = field(default_factory=dict)  # need ref -> its outputs
    outputs: tuple[str, ...] = ()
    tools: dict[str, str] = field(default_factory=dict)  # toolchain name -> identity


class RemoteLayer(Protocol):
    executes: bool  # whether actions run remotely (REAPI Execute), not only cached there

    def fetch(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        """The action's outputs from the remote cache, or None. With `download`, the blobs are
        verified and placed in `store`'s CAS and its action cache is told."""
        ...

    def execute(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        """Run the action remotely and return its outputs (downloaded as for `fetch`); None when
        the executor cannot be reached and the build may go on locally. Raises ActionFailed."""
        ...

    def download(self, outputs: dict[str, OutputFile], store: Store) -> None:
        """Make sure every blob of `outputs` is in `store`'s CAS (verified)."""
        ...

    def push(self, req: ActionRequest, outputs: dict[str, OutputFile], store: Store) -> None:
        """Offer what ran locally to the remote (a no-op when uploads are off)."""
        ...

    def close(self) -> None: ...
