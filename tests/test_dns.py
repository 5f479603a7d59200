"""ppm.core.dns: a burst of connections costs one name lookup per host. The real lookup runs
(for localhost); the test only counts how often it is reached, because a resolver that drops
queries past ~16 in flight (what made cold locks wait 5 s) cannot be stood up here on demand."""

from __future__ import annotations

import socket
import threading

import pytest

from ppm.core import dns


def test_concurrent_lookups_of_one_host_ask_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = dns._original

    def counting(host, *a):  # type: ignore[no-untyped-def]
        calls.append(host)
        if host == "fails.test":  # a failing lookup, without waiting on a real resolver's timeout
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *a)

    monkeypatch.setattr(dns, "_original", counting)
    monkeypatch.setattr(dns, "_answers", {})
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # restored after the test
    monkeypatch.setattr(dns, "_installed", False)
    dns.install()
    dns.install()  # idempotent
    results: list[object] = []
    barrier = threading.Barrier(32)

    def one() -> None:
        barrier.wait()
        results.append(socket.getaddrinfo("localhost", 443, 0, socket.SOCK_STREAM))

    threads = [threading.Thread(target=one) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 32 and all(r == results[0] for r in results)
    assert calls == ["localhost"]
    # a failure is not kept: the next connection asks again
    for _ in range(2):
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("fails.test", 443)
    assert calls.count("fails.test") == 2
