"""The engine: runs a plan's actions in parallel through the store.

Each action becomes, in order: a key (ppm.build.keys), then one of
  up to date  its materialized outputs are those its key produced last time (ppm.build.record)
  cached      the store knows the key: outputs are verified and restored (ppm.build.cache)
  ran         an executor runs it; its outputs go to the store, then its result
The scheduler (ppm.build.scheduler) decides when; the Store and Executor protocols
(ppm.build.store, ppm.build.executor) are the seams a remote cache or executor plugs into: the
CLI hands in a LayeredStore (local, then remote) and an executor chooser, and nothing here knows
what lies behind them.

Outputs held only remotely (a remote cache hit or a remote execution, with `lazy_outputs`) are
fetched through the store, verified like any cache hit, only when something here needs them:
the bundle, or a local action that reads them. Until then the action is `lazy`: the record
keeps its key and output digests, so the next build knows it up to date without its bytes.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppm.build import cache, keys, record
from ppm.build.executor import Executor, ExecutorUnavailable
from ppm.build.layout import Layout
from ppm.build.localexec import LocalExecutor
from ppm.build.localstore import LocalStore
from ppm.build.plan import Plan, PlannedAction
from ppm.build.results import ActionResult, Cancelled, Execution, OutputFile, Result
from ppm.build.scheduler import Scheduler
from ppm.build.statcache import StatCache
from ppm.build.store import ActionRef, Store
from ppm.core.errors import ActionFailed
from ppm.core.fsutil import rmtree
from ppm.core.paths import cache_dir, state_dir

TAIL_LINES = 30


class Engine:
    """One build's run of a plan. `store` defaults to the local store in the user cache;
    `executor_for` chooses each action's executor, given the local one (default: it, for every
    action); with `lazy_outputs`, outputs held only remotely are fetched only when needed here
    (the final outputs of the entry, or of the components in `want`)."""

    def __init__(self, plan: Plan, *, jobs: int, keep_going: bool = False, store: Store | None = None,
                 executor_for: Callable[[PlannedAction, Executor], Executor] | None = None,
                 progress: Any = None, lazy_outputs: bool = False, want: list[str] | None = None) -> None:
        self.plan = plan
        self.root = plan.root
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.state = state_dir(self.root)
        self.layout = Layout(self.state)
        self.store: Store = store if store is not None else LocalStore(cache_dir() / "store")
        self.local = LocalExecutor(plan, self.layout, jobs=self.jobs)
        self.executor_for: Callable[[PlannedAction, Executor], Executor] = executor_for or (lambda pa, local: local)
        self._executors: list[Executor] = [self.local]  # every executor used, so cancel() reaches each
        self._cancelled = threading.Event()
        self.progress = progress
        self.lazy_outputs = lazy_outputs
        # The bundle is made from the entry component's last action; a project without an entry
        # wants every component's last outputs, and so does a build of named components (`want`:
        # `ppm run`, `ppm dev` use them). Those are always fetched.
        entry = plan.manifest.entry
        self._finals = {f.id for (_t, c), f in plan.finals.items() if entry is None or c == entry or c in (want or ())}
        self._remote: dict[str, tuple[ActionRef, ActionResult]] = {}  # lazy action -> where its outputs are
        self._fetch_lock = threading.RLock()  # re-entered when a need is rebuilt here
        self.stat = StatCache(self.state / "statcache.json", self.root)
        self.results: dict[str, Result] = {}
        self.previous = record.load(self.state)

    def out_dir(self, pa: PlannedAction) -> Path:
        return self.layout.out_dir(pa)

    def needed_here(self, pa: PlannedAction) -> bool:
        """Whether the action's outputs must sit on this machine once it settles."""
        return not self.lazy_outputs or pa.id in self._finals

    # -- one action ------------------------------------------------------------------------
    def run_one(self, pa: PlannedAction) -> Result:
        start = time.time()
        ing = keys.ingredients(pa, self.plan, self.stat, {d.id: self.results[d.id].outputs for d in pa.deps.values()})
        key = keys.key_of(ing)
        ref = ActionRef(key, pa.id, ing, self.root,
                        {r: self.results[dpa.id].outputs for r, dpa in sorted(pa.deps.items())})
        prev = self.previous.get("actions", {}).get(pa.id)
        out_dir = self.layout.out_dir(pa)
        res = Result(pa.id, "ran", key=key, out_dir=str(out_dir), start=start, ingredients=ing)
        if prev and prev.get("key") == key and self._still_there(pa, ref, prev, res):
            res.status = "up-to-date"
            res.reason = "up to date"
        else:
            res.reason = keys.explain(prev.get("ingredients") if prev else None, ing,
                                      same_key=bool(prev and prev.get("key") == key))
            hit = self.store.get_action_result(ref)
            if hit is not None and self._take(pa, ref, hit, res):
                res.status = "cached"
            else:
                if hit is not None:
                    res.reason += " (the cached entry was corrupt and was dropped)"
                res.outputs = self._execute(pa, ref, res)
        res.end = time.time()
        return res

    def _still_there(self, pa: PlannedAction, ref: ActionRef, prev: dict[str, Any], res: Result) -> bool:
        """Whether the last build's outputs for this key are still good: materialized and
        untouched, or held remotely (lazy) and not needed here. A lazy action now needed for
        the bundle is fetched; False when that fails (the action is then looked up or run anew)."""
        outputs = {rel: OutputFile.from_json(v) for rel, v in prev["outputs"].items()}
        origin = prev.get("lazy")
        if not origin:
            if not record.materialized_ok(self.layout.out_dir(pa), prev):
                return False
            res.outputs = outputs
            return True
        res.outputs = outputs
        # Left remote until something needs it, whatever this build's remote: the bundle now,
        # or a local action that reads it (_materialize_deps, which needs the remote then).
        if pa.id not in self._finals:
            self._remote[pa.id] = (ref, ActionResult(outputs, origin=str(origin)))
            res.lazy = str(origin)
            return True
        return self._place(pa, ref, ActionResult(outputs, origin=str(origin)))

    def _take(self, pa: PlannedAction, ref: ActionRef, hit: ActionResult, res: Result) -> bool:
        """Answer the action from a store hit: restored here, or left remote when nothing here
        needs it (yet). False when the entry was corrupt (then dropped)."""
        res.remote = bool(hit.origin)
        res.outputs = dict(hit.outputs)
        if hit.origin and not self.needed_here(pa):
            self._remote[pa.id] = (ref, hit)
            res.lazy = hit.origin
            return True
        if self._place(pa, ref, hit):
            return True
        res.remote, res.outputs = False, {}
        return False

    def _place(self, pa: PlannedAction, ref: ActionRef, result: ActionResult) -> bool:
        """Restore a result's outputs (each blob verified, fetched through the store when held
        only remotely) into the action's directory; False when a blob was missing or corrupt."""
        restored = self.layout.tmp("restore")
        try:
            cache.adopt(self.store, ref, result, restored)
        except cache.CorruptEntry:
            return False
        self.layout.swap_into(restored, self.layout.out_dir(pa))
        return True

    def _materialize_deps(self, pa: PlannedAction) -> None:
        """Fetch and place what this local action reads of needs whose outputs are remote."""
        for dpa in pa.needs:
            r = self.results[dpa.id]
            if not r.lazy:
                continue
            with self._fetch_lock:
                if r.lazy:
                    ref, result = self._remote[dpa.id]
                    if not self._place(dpa, ref, result):
                        self._rebuild_here(dpa, ref, r, origin=result.origin or "the remote")
                    r.lazy = ""

    def _rebuild_here(self, pa: PlannedAction, ref: ActionRef, r: Result, *, origin: str) -> None:
        """Make a need's outputs on this machine when the remote that holds them cannot give
        them (a build without that remote, or the remote gone): run it here, its own remote-held
        needs first. Consumers were keyed on the remote outputs' digests, so outputs that come
        out different stop the build; the next build keys them on what was made here."""
        sys.stderr.write(f"ppm: the outputs of {pa.id} are held by {origin}, which cannot give them now; "
                         f"building {pa.id} here\n")
        if pa.runs_on is not None:
            raise ActionFailed(f"{pa.id}: its outputs are held by {origin}, which cannot give them now, and it "
                               f"builds only on a {pa.runs_on.name} machine",
                               hint="build with that remote again, or `ppm clean` and build for this machine only")
        self._materialize_deps(pa)
        ex = self.local.execute(pa, ref)
        if not ex.succeeded:
            raise ActionFailed(f"{pa.id} failed (exit {ex.exit_code}): {shlex.join(ex.failed_command)}"
                               + _tail(ex.log))
        assert ex.out_dir is not None  # the local executor always materializes
        made = self._store_local(pa, ref, ex, ex.out_dir)
        expected = r.outputs
        r.outputs, r.remote = made, False
        if {k: v.digest for k, v in made.items()} != {k: v.digest for k, v in expected.items()}:
            raise ActionFailed(f"{pa.id} built here differs from what {origin} held, and the actions that read "
                               "it were keyed on the remote's outputs",
                               hint="run the build again: it will key them on the outputs made here")

    def _execute(self, pa: PlannedAction, ref: ActionRef, res: Result) -> dict[str, OutputFile]:
        executor = self.executor_for(pa, self.local)
        if executor not in self._executors:
            self._executors.append(executor)
        a = pa.action
        ex: Execution | None = None
        if executor is not self.local:
            try:
                ex = executor.execute(pa, ref)
            except ExecutorUnavailable:
                executor = self.local  # --remote-fallback local: the executor said so once
        if ex is None:
            if pa.runs_on is not None:
                raise ActionFailed(f"{pa.id} must run on a {pa.runs_on.name} machine: {pa.builder.name} builds only "
                                   f"for the machine it runs on, and no remote executor is available")
            self._materialize_deps(pa)
            ex = executor.execute(pa, ref)
        if not ex.succeeded:
            raise ActionFailed(f"{a.id} failed (exit {ex.exit_code}): {shlex.join(ex.failed_command)}"
                               + _tail(ex.log))
        if ex.out_dir is None:
            # A remote executor's outputs are held remotely: fetched like a remote cache hit,
            # only when needed here.
            if ex.result is None:
                raise ActionFailed(f"{a.id}: the executor reported success without outputs")
            res.remote = True
            if not self._take(pa, ref, ex.result, res):
                raise ActionFailed(f"{a.id}: the outputs the remote executor reported could not be fetched (see above)")
            return dict(ex.result.outputs)
        return self._store_local(pa, ref, ex, ex.out_dir)

    def _store_local(self, pa: PlannedAction, ref: ActionRef, ex: Execution, out: Path) -> dict[str, OutputFile]:
        a = pa.action
        missing = [rel for rel in a.outputs if not os.path.isfile(out / rel)]
        if missing:
            raise ActionFailed(f"{a.id}: finished but did not write {', '.join(missing)}" + _tail(ex.log))
        result = cache.record(self.store, ref, out, a.outputs, ex.log, Path(f"{out}.stdout"))
        # The materialized directory holds exactly the declared outputs: move {out} itself into
        # place when that is all it holds, else move the outputs into a fresh directory.
        if all("/" not in rel for rel in a.outputs) and sorted(os.listdir(out)) == sorted(a.outputs):
            final = out
        else:
            final = Path(f"{out}.final")
            for rel in a.outputs:
                dst = final / rel
                os.makedirs(dst.parent, exist_ok=True)
                os.rename(out / rel, dst)
        self.layout.swap_into(final, self.layout.out_dir(pa))
        if final != out:
            rmtree(out)
        return dict(result.outputs)

    def cancel(self) -> None:
        self._cancelled.set()
        for ex in list(self._executors):
            ex.cancel()

    # -- the whole graph ---------------------------------------------------------------------
    def run(self) -> list[Result]:
        """Run every action; raises ActionFailed (after the others settle) if any failed."""
        self.layout.reset_tmp()

        def work(pa: PlannedAction) -> Result:
            if self._cancelled.is_set():
                raise Cancelled()
            if self.progress:
                self.progress.started(pa)
            res = self.run_one(pa)
            if self.progress:
                self.progress.finished(pa, res)
            return res

        # More threads than job slots: a thread keys, restores or stores outputs while others
        # hold the slots that bound the processes running at once (-j).
        sched = Scheduler(self.plan.actions, work, threads=self.jobs + 2, keep_going=self.keep_going,
                          cancel=self.cancel, on_failure=self.progress.failed if self.progress else None,
                          results=self.results)
        try:
            sched.run()
        finally:
            record.save(self.state, self.previous, (self.results[pa.id] for pa in self.plan.actions
                                                    if pa.id in self.results))
            self.stat.save()
        if sched.failures:
            more = f"\n({len(sched.failures) - 1} more action(s) failed; see above)" if len(sched.failures) > 1 else ""
            raise ActionFailed(sched.failures[0] + more)
        return [self.results[pa.id] for pa in self.plan.actions]


def _tail(output: bytes) -> str:
    lines = output.decode(errors="replace").splitlines()
    if not lines:
        return "\n  (the command printed nothing)"
    tail = lines[-TAIL_LINES:]
    head = f"\n  last {len(tail)} of {len(lines)} lines of its output:" if len(lines) > TAIL_LINES else "\n  its output:"
    return head + "".join(f"\n    {line}" for line in tail)


# Kept importable from here: `explain` is what --explain prints.
explain = keys.explain
