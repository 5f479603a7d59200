"""The scheduler: runs a graph of actions on threads, each as soon as what it needs is done.

It knows nothing of keys, stores or processes: `work` does one action and returns its Result.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from ppm.build.plan import PlannedAction
from ppm.build.results import Cancelled, Result
from ppm.core.errors import PpmError


class Scheduler:
    def __init__(self, actions: Sequence[PlannedAction], work: Callable[[PlannedAction], Result], *,
                 threads: int, keep_going: bool, cancel: Callable[[], None],
                 on_failure: Callable[[PlannedAction, str], None] | None = None,
                 results: dict[str, Result] | None = None) -> None:
        self.actions = actions
        self.work = work
        self.threads = threads
        self.keep_going = keep_going
        self.cancel = cancel
        self.on_failure = on_failure
        self.results: dict[str, Result] = {} if results is None else results
        self.failures: list[str] = []

    def run(self) -> None:
        """Run every action; afterwards `results` holds one Result per action and `failures`
        each failure's message, in the order they happened."""
        actions = self.actions
        waiting = {pa: len(pa.needs) for pa in actions}
        dependents: dict[PlannedAction, list[PlannedAction]] = {pa: [] for pa in actions}
        for pa in actions:
            for d in pa.needs:
                dependents[d].append(pa)
        ready = deque(pa for pa in actions if not pa.needs)
        cond = threading.Condition()
        inflight = 0

        def settle(pa: PlannedAction, res: Result | None, exc: BaseException | None) -> None:
            """Record one action's end and release what waited for it (called holding `cond`)."""
            if exc is None and res is not None:
                self.results[pa.id] = res
                for d in dependents[pa]:
                    waiting[d] -= 1
                    if waiting[d] == 0:
                        ready.append(d)
            elif isinstance(exc, Cancelled):
                self.results[pa.id] = Result(pa.id, "skipped", reason="cancelled")
            else:
                msg = str(exc) if isinstance(exc, PpmError) else f"{pa.id}: internal error: {exc!r}"
                self.failures.append(msg)
                self.results[pa.id] = Result(pa.id, "failed", error=msg)
                if self.on_failure:
                    self.on_failure(pa, msg)
                self._skip_dependents(pa, dependents)
                if not self.keep_going:
                    ready.clear()
                    self.cancel()

        def worker() -> None:
            nonlocal inflight
            while True:
                with cond:
                    while not ready and inflight:
                        cond.wait()
                    if not ready:  # nothing queued and nothing running: the graph is done
                        cond.notify_all()
                        return
                    pa = ready.popleft()
                    inflight += 1
                res: Result | None = None
                err: BaseException | None = None
                try:
                    res = self.work(pa)
                except BaseException as e:  # every failure is the action's, reported once
                    err = e
                with cond:
                    inflight -= 1
                    settle(pa, res, err)
                    cond.notify_all()

        # Plain threads on one condition: a future per action cost more in wake-ups than the
        # bookkeeping itself.
        threads = [threading.Thread(target=worker, name=f"ppm-action-{i}", daemon=True) for i in range(self.threads)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        except KeyboardInterrupt:
            with cond:
                ready.clear()
            self.cancel()
            for t in threads:
                t.join()
            raise
        finally:
            for pa in actions:
                self.results.setdefault(pa.id, Result(pa.id, "skipped", reason="not started"))

    def _skip_dependents(self, pa: PlannedAction, dependents: dict[PlannedAction, list[PlannedAction]]) -> None:
        stack = list(dependents[pa])
        while stack:
            d = stack.pop()
            if d.id not in self.results:
                self.results[d.id] = Result(d.id, "skipped", reason=f"needs {pa.id}, which failed")
                stack.extend(dependents[d])
