"""Printing: rich on a terminal, plain lines when piped or under CI."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: rich and the engine are imported when used
    from rich.table import Table

    from ppm.build.plan import PlannedAction
    from ppm.build.results import Result


from ppm.core.errors import PpmError


class UsageError(PpmError):
    """A command line that cannot mean anything: exit 2, like every usage error."""

    exit_code = 2


# Set once by the root callback from -v/-q/--color; read by every printer below.
_verbosity = 0  # -1 quiet, 0 normal, 1 verbose
_color: str = "auto"  # auto | always | never


def configure(*, verbose: bool = False, quiet: bool = False, color: str = "auto") -> None:
    global _verbosity, _color
    _verbosity = -1 if quiet else 1 if verbose else 0
    _color = color
    _install_transfer_bars()


def _install_transfer_bars() -> None:
    """Downloads get a rich bar (size, rate, time left) on a terminal; nothing otherwise."""
    from ppm.core import progress

    progress.install(TransferBar if is_interactive() else None)


class TransferBar:
    """One download's bar: bytes done of total, rate, time left; removed when done."""

    def __init__(self, description: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=console(), transient=True)
        self.progress.start()
        self.task = self.progress.add_task(description, total=total)

    def advance(self, nbytes: int) -> None:
        self.progress.advance(self.task, nbytes)

    def close(self) -> None:
        self.progress.stop()


def quiet() -> bool:
    return _verbosity < 0


def verbose() -> bool:
    return _verbosity > 0


def use_color(stream: object = None) -> bool:
    """--color always/never wins; then NO_COLOR (https://no-color.org: set and non-empty);
    then whether the stream is a terminal."""
    if _color != "auto":
        return _color == "always"
    if os.environ.get("NO_COLOR"):
        return False
    s = stream if stream is not None else sys.stderr
    return bool(getattr(s, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def is_interactive() -> bool:
    """Live views (progress bars, the running-actions list): a terminal, not CI, not -q."""
    return sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb" and not quiet()


def console(*, stderr: bool = True):
    from rich.console import Console

    on = use_color(sys.stderr if stderr else sys.stdout)
    return Console(stderr=stderr, highlight=False, no_color=not on, color_system="auto" if on else None,
                   force_terminal=True if _color == "always" else None)


def error(message: str) -> None:
    if use_color():
        from rich.text import Text

        console().print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    else:
        print(f"error: {message}", file=sys.stderr)


def info(message: str) -> None:
    if not quiet():
        print(message, file=sys.stderr)


def debug(message: str) -> None:
    """Printed with -v only."""
    if verbose():
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

    def __enter__(self) -> BuildProgress:
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


def test_table(rep) -> None:
    """One summary table of a `ppm test` run, then each failure's cases and output."""
    from rich.table import Table

    c = console(stderr=False)
    t = Table(title=f"{rep.project}: tests", title_justify="left")
    for col in ("component", "suite", "result", "cases", "time"):
        t.add_column(col, justify="right" if col in ("cases", "time") else "left")
    style = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    for s in rep.suites:
        passed = sum(1 for x in s.cases if x.status == "passed")
        result = s.status + (" (cached)" if s.cached else "")
        t.add_row(s.component, s.action.split(":", 1)[-1], f"[{style[s.status]}]{result}[/]",
                  f"{passed}/{len(s.cases)}", "-" if s.cached else f"{s.seconds:.2f}s")
    c.print(t)
    for name in rep.no_tests:
        c.print(f"{name}: no tests", markup=False)
    for s in rep.failed:
        c.print(f"\n[bold red]FAILED[/] {s.action}", highlight=False)
        for x in s.cases:
            if x.status != "passed":
                c.print(f"  {x.status}: {x.name}", markup=False, soft_wrap=True)
                for line in x.message.splitlines()[-15:]:
                    c.print(f"    {line}", markup=False, soft_wrap=True)
    d = rep.to_json()
    c.print(f"\n{d['passed']} passed, {d['failed']} failed; {d['ran']} ran, {d['cached']} from cache "
            f"({d['seconds']:.2f}s)", markup=False)
