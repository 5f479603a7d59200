"""Printing: rich on a terminal, plain lines when piped or under CI."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: rich and the engine are imported when used
    from rich.table import Table

    from ppm.build.plan import PlannedAction
    from ppm.build.results import Result


def is_interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


def error(message: str) -> None:
    if is_interactive():
        from rich.console import Console
        from rich.text import Text

        Console(stderr=True, highlight=False).print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    else:
        print(f"error: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(message, file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class BuildProgress:
    """Progress of a build: a live view of running actions on a terminal, plain lines otherwise.
    Called from the engine's worker threads."""

    def __init__(self, total: int = 0, *, quiet: bool = False) -> None:
        import threading
        import time

        self._time = time.monotonic
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.live = None
        if is_interactive() and not quiet:
            from rich.console import Console
            from rich.live import Live

            self.console = Console(stderr=True)
            self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True,
                             get_renderable=self._render)

    def __enter__(self) -> "BuildProgress":
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.live.__exit__(*exc)

    def _render(self) -> Table:
        from rich.table import Table

        t = Table.grid(padding=(0, 1))
        now = self._time()
        with self.lock:
            items = sorted(self.running.items(), key=lambda kv: kv[1])
            done, total = self.done, self.total
        t.add_row(f"[bold]building[/] {done}/{total}", "")
        for aid, start in items[:12]:
            t.add_row(f"  [cyan]{aid}[/]", f"{now - start:5.1f}s")
        if len(items) > 12:
            t.add_row(f"  … and {len(items) - 12} more", "")
        return t

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.live:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def queued(self, pa: PlannedAction) -> None:
        pass

    def started(self, pa: PlannedAction) -> None:
        with self.lock:
            self.running[pa.id] = self._time()

    def finished(self, pa: PlannedAction, res: Result) -> None:
        with self.lock:
            start = self.running.pop(pa.id, self._time())
            self.done += 1
            n = self.done
        if res.status == "up-to-date":
            return
        verb = "ran" if res.status == "ran" else "from cache"
        width = len(str(self.total))
        self._line(f"[{n:>{width}}/{self.total}] {verb:<10} {pa.action.label()} ({self._time() - start:.2f}s)")

    def failed(self, pa: PlannedAction, message: str) -> None:
        with self.lock:
            self.running.pop(pa.id, None)
            self.done += 1
        self._line(f"FAILED {pa.id}")
