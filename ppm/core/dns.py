"""One name lookup per host, shared by every thread of this process.

ppm resolves several ecosystems at once, each with a pool of connections, so a cold lock opens
dozens of connections within milliseconds, and each new connection asks the resolver for its
host's addresses. Some resolvers (the one this project's CI runs behind, for one) drop queries
past about 16 in flight; glibc then waits out its 5-second timeout, so a cold `ppm lock` took
5.5 s longer than the same work in one thread. Lookups here are single-flight per host and
kept for a few minutes, so a burst of connections costs one query per host.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

TTL = 300.0  # seconds a successful answer is reused

_lock = threading.Lock()
_answers: dict[tuple[Any, ...], tuple[float, list[Any]]] = {}
_inflight: dict[tuple[Any, ...], threading.Lock] = {}
_original = socket.getaddrinfo
_installed = False


def _getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[Any]:
    key = (host, port, family, type, proto, flags)
    with _lock:
        hit = _answers.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        gate = _inflight.setdefault(key, threading.Lock())
    with gate:  # the first caller asks; the others wait for its answer
        with _lock:
            hit = _answers.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        answer = _original(host, port, family, type, proto, flags)
        with _lock:
            _answers[key] = (time.monotonic() + TTL, answer)
            _inflight.pop(key, None)
        return answer


def install() -> None:
    """Route this process's name lookups through the shared cache (idempotent). ppm is a
    command-line program: the process is ppm's own, so a process-wide cache is safe."""
    global _installed
    with _lock:
        if not _installed:
            socket.getaddrinfo = _getaddrinfo
            _installed = True
