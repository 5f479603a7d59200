"""Progress of long transfers (toolchain downloads, registry fetches), reported by the code
doing them and drawn by whoever installed a display: the CLI puts a rich progress bar here on
a terminal; everywhere else the default does nothing. Keeps lower layers free of any UI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Transfer(Protocol):
    def advance(self, nbytes: int) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def advance(self, nbytes: int) -> None:
        pass

    def close(self) -> None:
        pass


_factory: Callable[[str, int | None], Transfer] | None = None


def install(factory: Callable[[str, int | None], Transfer] | None) -> None:
    """Set (or, with None, remove) the display that `transfer` reports to."""
    global _factory
    _factory = factory


@contextmanager
def transfer(description: str, total: int | None) -> Iterator[Transfer]:
    """Report a transfer of `total` bytes (None: unknown) while the block runs."""
    t = _factory(description, total) if _factory is not None else _Silent()
    try:
        yield t
    finally:
        t.close()
