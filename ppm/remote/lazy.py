"""The remote layer as the engine sees it, opened on first use.

Building the real layer loads grpc and protobuf (~100 ms); a build whose actions are all up
to date never asks the remote anything, so it never pays for them.
"""

from __future__ import annotations

import threading
from typing import Any

from ppm.build.layered import ActionRequest, RemoteLayer
from ppm.build.localstore import LocalStore as Store
from ppm.build.results import OutputFile
from ppm.remote.config import RemoteConfig


class LazyRemote:
    def __init__(self, config: RemoteConfig, *, warn: Any = None) -> None:
        self.config = config
        self.executes = bool(config.executor)
        self.warn = warn
        self._layer: RemoteLayer | None = None
        self._lock = threading.Lock()

    @property
    def layer(self) -> RemoteLayer:
        with self._lock:
            if self._layer is None:
                from ppm.remote.cache import RemoteCache, open_backend

                cfg = self.config
                if cfg.executor:
                    # The executor's own CAS and action cache serve as the remote cache: its
                    # workers read inputs from there and write outputs there.
                    from ppm.remote.execute import EXECUTION_RETRIES, RemoteExecution
                    from ppm.remote.reapi import ReapiClient

                    client = ReapiClient(cfg.executor, headers=cfg.headers, policy=EXECUTION_RETRIES)
                    self._layer = RemoteExecution(client, upload=cfg.upload, fallback=cfg.fallback, warn=self.warn)
                else:
                    assert cfg.cache is not None
                    self._layer = RemoteCache(open_backend(cfg.cache, cfg.headers), upload=cfg.upload, warn=self.warn)
            return self._layer

    def fetch(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        return self.layer.fetch(req, store, download=download)

    def execute(self, req: ActionRequest, store: Store, *, download: bool = True) -> dict[str, OutputFile] | None:
        return self.layer.execute(req, store, download=download)

    def download(self, outputs: dict[str, OutputFile], store: Store) -> None:
        self.layer.download(outputs, store)

    def push(self, req: ActionRequest, outputs: dict[str, OutputFile], store: Store) -> None:
        self.layer.push(req, outputs, store)

    def close(self) -> None:
        if self._layer is not None:
            self._layer.close()
