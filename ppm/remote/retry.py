"""Retries, timeouts and backoff for every remote call, written once.

A call that fails with an error `transient` accepts is retried with exponential backoff and
full jitter (so a restarted server is not hit by every client at the same instant), up to
`attempts` times; anything else is raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_delay: float = 0.1
    max_delay: float = 2.0
    timeout: float = 30.0  # seconds per call, passed to the transport


DEFAULT = RetryPolicy()


def call(fn: Callable[[], T], *, transient: Callable[[BaseException], bool], policy: RetryPolicy = DEFAULT,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried on transient errors; the last error is raised when attempts run out."""
    delay = policy.first_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except BaseException as e:
            if attempt == policy.attempts or not transient(e):
                raise
        sleep(random.uniform(0, delay))
        delay = min(delay * 2, policy.max_delay)
    raise AssertionError("unreachable")  # the loop returns or raises
