"""The engine's typed results: what a store holds for an action, what an executor reports,
and what a build says about each action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class OutputFile:
    """One output blob: its content's sha256, its size, and whether it is executable."""

    digest: str
    size: int
    executable: bool

    def to_json(self) -> list[Any]:
        return [self.digest, self.size, self.executable]

    @classmethod
    def from_json(cls, v: list[Any]) -> OutputFile:
        return cls(str(v[0]), int(v[1]), bool(v[2]))


@dataclass(frozen=True)
class ActionResult:
    """What a successful action produced: the value the action cache keeps under its key
    (REAPI's ActionResult, trimmed to what ppm uses). Only exit code 0 is ever cached."""

    outputs: Mapping[str, OutputFile]  # declared output path -> blob
    exit_code: int = 0
    # The combined stdout and stderr (one pipe, so warnings keep their order) as a blob, or ""
    # when the action printed nothing: most compiles print nothing and cost no blob.
    stdout_digest: str = ""
    # Where the result came from when not from this machine's store (a remote's URL): its blobs
    # may be held only there. Never stored: a result recorded locally is local.
    origin: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"outputs": {rel: o.to_json() for rel, o in sorted(self.outputs.items())},
                "exit_code": self.exit_code, "stdout_digest": self.stdout_digest}

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ActionResult:
        """Raises ValueError, KeyError, TypeError or IndexError on a malformed entry."""
        outputs = {str(rel): OutputFile.from_json(o) for rel, o in v["outputs"].items()}
        return cls(outputs, int(v["exit_code"]), str(v.get("stdout_digest", "")))


@dataclass(frozen=True)
class Execution:
    """What an executor reports for one run of an action: fallible, unlike ActionResult.

    A failed run names the command that failed; a successful local run names the directory its
    declared outputs sit in (the engine stores them); a remote executor instead hands back an
    ActionResult whose blobs are held remotely (out_dir None): the engine downloads them, through
    the store, only when something here needs them."""

    exit_code: int
    log: bytes = b""  # stdout and stderr, for the error message and the stdout blob
    failed_command: tuple[str, ...] = ()
    out_dir: Path | None = None
    result: ActionResult | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


Status = Literal["up-to-date", "cached", "ran", "failed", "skipped"]


@dataclass
class Result:
    """What one build says about one action (the --json summary, the record, progress lines)."""

    id: str
    status: Status
    key: str = ""
    reason: str = ""
    outputs: dict[str, OutputFile] = field(default_factory=dict)
    out_dir: str = ""
    start: float = 0.0
    end: float = 0.0
    error: str = ""
    ingredients: dict[str, Any] | None = None  # what the key was computed from, for --explain
    remote: bool = False  # "cached" from the remote cache, or "ran" on a remote executor
    # Where the outputs are when they are not here (a remote's URL): nothing here needed them
    # (yet); the engine fetches them through the store when something does.
    lazy: str = ""


class Cancelled(Exception):
    """The build is stopping (a failure without --keep-going, or Ctrl-C): the action did not run."""
