"""The remote store and executor as the build sees them, opened on first use.

Opening the real ones loads grpc and protobuf (~100 ms); a build whose actions are all up to
date never asks the remote anything, so it never pays for them. `LazyRemote` is what
ppm.build.run's `remote` factory returns (its Remote protocol): a Store to put behind the local
one, and the executor each action runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ppm.build.executor import Executor
from ppm.build.localstore import LocalStore
from ppm.build.plan import PlannedAction
from ppm.build.results import ActionResult, Execution, OutputFile
from ppm.build.store import ActionRef
from ppm.remote.config import RemoteConfig

if TYPE_CHECKING:  # grpc and protobuf load only when the remote is first used
    from ppm.remote.cache import RemoteStore
    from ppm.remote.execute import RemoteExecutor


class LazyRemote:
    def __init__(self, config: RemoteConfig, *, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.executes = bool(config.executor)
        self.executor_url = config.executor
        self.warn = warn
        self._store: RemoteStore | None = None
        self._executor: RemoteExecutor | None = None
        self._near: LocalStore | None = None
        self._lock = threading.Lock()
        self._deferred = _DeferredExecutor(self)

    def _open(self) -> tuple[RemoteStore, RemoteExecutor | None]:
        with self._lock:
            if self._store is None:
                import logging

                from ppm.remote.cache import Link, RemoteStore, open_backend

                assert self._near is not None
                cfg = self.config
                warn = self.warn or (lambda msg: logging.getLogger("ppm.remote").warning("warning: %s", msg))
                if cfg.executor:
                    # The executor's own CAS and action cache serve as the remote cache: its
                    # workers read inputs from there and write outputs there.
                    from ppm.remote.execute import EXECUTION_RETRIES, RemoteExecutor
                    from ppm.remote.reapi import ReapiClient

                    client = ReapiClient(cfg.executor, headers=cfg.headers, policy=EXECUTION_RETRIES)
                    link = Link(cfg.executor, warn=warn, required=cfg.fallback != "local",
                                fallback="building locally (--remote-fallback local)")
                    self._store = RemoteStore(client, link, self._near, upload=cfg.upload)
                    self._executor = RemoteExecutor(client, self._store, self._near)
                else:
                    assert cfg.cache is not None
                    self._store = RemoteStore(open_backend(cfg.cache, cfg.headers), Link(cfg.cache, warn=warn),
                                              self._near, upload=cfg.upload)
            return self._store, self._executor

    # -- what the build asks for ------------------------------------------------------------
    def store(self, near: LocalStore) -> _DeferredStore:
        """The remote Store, to sit behind `near` (whose CAS holds what is uploaded)."""
        self._near = near
        return _DeferredStore(self)

    def executor_for(self, pa: PlannedAction, local: Executor) -> Executor:
        """With a remote executor every action runs there (those of other platforms can only);
        with a cache alone, here."""
        return self._deferred if self.executes else local

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class _DeferredStore:
    """The Store protocol, opening the remote at the first call."""

    def __init__(self, remote: LazyRemote) -> None:
        self.remote = remote

    def _s(self) -> RemoteStore:
        return self.remote._open()[0]

    def has_blob(self, digest: str) -> bool:
        return self.remote._store is not None and self._s().has_blob(digest)

    def put_blob(self, path: Path) -> OutputFile:
        return self._s().put_blob(path)

    def get_blob(self, blob: OutputFile, dest: Path) -> None:
        self._s().get_blob(blob, dest)

    def drop_blob(self, digest: str) -> None:
        self._s().drop_blob(digest)

    def get_action_result(self, ref: ActionRef) -> ActionResult | None:
        return self._s().get_action_result(ref)

    def put_action_result(self, ref: ActionRef, result: ActionResult) -> None:
        self._s().put_action_result(ref, result)

    def drop_action_result(self, ref: ActionRef) -> None:
        self._s().drop_action_result(ref)


class _DeferredExecutor:
    """The Executor protocol, opening the remote at the first call."""

    def __init__(self, remote: LazyRemote) -> None:
        self.remote = remote

    def execute(self, pa: PlannedAction, ref: ActionRef) -> Execution:
        ex = self.remote._open()[1]
        assert ex is not None
        return ex.execute(pa, ref)

    def cancel(self) -> None:
        if self.remote._executor is not None:
            self.remote._executor.cancel()
