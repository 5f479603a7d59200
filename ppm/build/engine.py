"""The engine: runs a plan's actions in parallel through the store.

Each action becomes, in order: a key (ppm.build.keys), then one of
  up to date  its materialized outputs are those its key produced last time (ppm.build.record)
  cached      the store knows the key: outputs are verified and restored (ppm.build.cache)
  ran         an executor runs it; its outputs go to the store, then its result
The scheduler (ppm.build.scheduler) decides when; the Store and Executor protocols
(ppm.build.store, ppm.build.executor) are the seams a remote cache or executor plugs into.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppm.build import cache, keys, record
from ppm.build.executor import Executor
from ppm.build.layered import ActionRequest, RemoteLayer
from ppm.build.layout import Layout
from ppm.build.localexec import LocalExecutor
from ppm.build.localstore import LocalStore
from ppm.build.plan import Plan, PlannedAction
from ppm.build.results import ActionResult, Cancelled, Execution, OutputFile, Result
from ppm.build.scheduler import Scheduler
from ppm.build.statcache import StatCache
from ppm.build.store import Store
from ppm.core.errors import ActionFailed
from ppm.core.fsutil import rmtree
from ppm.core.paths import cache_dir, state_dir

TAIL_LINES = 30


class Engine:
    """One build's run of a plan. `store` defaults to the local store in the user cache;
    `executor_for` chooses each action's executor (default: the local one for every action)."""

    def __init__(self, plan: Plan, *, jobs: int, keep_going: bool = False, store: Store | None = None,
                 executor_for: Callable[[PlannedAction], Executor] | None = None,
                 progress: Any = None, remote: RemoteLayer | None = None) -> None:
        self.plan = plan
        self.root = plan.root
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.state = state_dir(self.root)
        self.layout = Layout(self.state)
        self.store: Store = store if store is not None else LocalStore(cache_dir() / "store")
        self.local = LocalExecutor(plan, self.layout, jobs=self.jobs)
        self.executor_for: Callable[[PlannedAction], Executor] = executor_for or (lambda pa: self.local)
        self._executors: list[Executor] = [self.local]  # every executor used, so cancel() reaches each
        self._cancelled = threading.Event()
        self.progress = progress
        self.remote = remote  # consulted only after a local miss
        # With a remote executor, outputs are downloaded only for what runs here or is bundled.
        # The bundle is made from the entry component's last action; a project without an entry
        # wants every component's last outputs.
        entry = plan.manifest.entry
        self._finals = {f.id for (_t, c), f in plan.finals.items() if entry is None or c == entry}
        self._fetch_lock = threading.Lock()
        self.stat = StatCache(self.state / "statcache.json", self.root)
        self.results: dict[str, Result] = {}
        self.previous = record.load(self.state)

    def out_dir(self, pa: PlannedAction) -> Path:
        return self.layout.out_dir(pa)

    # -- one action ------------------------------------------------------------------------
    def run_one(self, pa: PlannedAction) -> Result:
        start = time.time()
        ing = keys.ingredients(pa, self.plan, self.stat, {d.id: self.results[d.id].outputs for d in pa.deps.values()})
        key = keys.key_of(ing)
        prev = self.previous.get("actions", {}).get(pa.id)
        out_dir = self.layout.out_dir(pa)
        res = Result(pa.id, "ran", key=key, out_dir=str(out_dir), start=start, ingredients=ing)
        if prev and prev.get("key") == key and record.materialized_ok(out_dir, prev):
            res.status = "up-to-date"
            res.outputs = {rel: OutputFile.from_json(v) for rel, v in prev["outputs"].items()}
            res.reason = "up to date"
        else:
            res.reason = keys.explain(prev.get("ingredients") if prev else None, ing,
                                      same_key=bool(prev and prev.get("key") == key))
            restored = self.layout.tmp("restore")
            hit, corrupt = cache.lookup(self.store, key, restored)
            if hit is not None:
                self.layout.swap_into(restored, out_dir)
                res.status = "cached"
                res.outputs = dict(hit.outputs)
            else:
                if corrupt:
                    res.reason += " (the cached entry was corrupt and was dropped)"
                rmtree(restored)
                if self.remote is None or not self._run_remote(pa, key, ing, res):
                    self._materialize_deps(pa)
                    res.outputs = self._execute(pa, key)
                    if self.remote is not None:
                        self.remote.push(self._request(pa, key, ing), res.outputs, self._local_store())
        res.end = time.time()
        return res

    # -- the remote layer (ppm.build.layered) -------------------------------------------------
    def _local_store(self) -> LocalStore:
        if not isinstance(self.store, LocalStore):
            raise ActionFailed("a remote cache or executor needs the local store in front of it")
        return self.store

    def _run_remote(self, pa: PlannedAction, key: str, ing: dict[str, Any], res: Result) -> bool:
        """Answer the action from the remote cache or run it on the remote executor; False when
        it must run here."""
        assert self.remote is not None
        req = self._request(pa, key, ing)
        store = self._local_store()
        local = not self.remote.executes or pa.id in self._finals
        outcome = self.remote.fetch(req, store, download=local)
        if outcome is not None:
            res.status = "cached"
        elif self.remote.executes:
            outcome = self.remote.execute(req, store, download=local)
            if outcome is None:
                return False  # the executor is unreachable and --remote-fallback local
            res.status = "ran"
        else:
            return False
        res.outputs, res.remote, res.lazy = outcome, True, not local
        if local:
            self._place(pa, outcome)
        return True

    def _place(self, pa: PlannedAction, outputs: dict[str, OutputFile]) -> None:
        """Restore downloaded outputs (verified, as any cache hit) into the action's directory."""
        restored = self.layout.tmp("restore")
        cache.restore(self.store, ActionResult(outputs), restored)
        self.layout.swap_into(restored, self.layout.out_dir(pa))

    def _materialize_deps(self, pa: PlannedAction) -> None:
        """Download and place what this local action reads of remotely built needs."""
        if self.remote is None:
            return
        for dpa in pa.needs:
            r = self.results[dpa.id]
            if not r.lazy:
                continue
            with self._fetch_lock:
                if r.lazy:
                    self.remote.download(r.outputs, self._local_store())
                    self._place(dpa, r.outputs)
                    r.lazy = False

    def _request(self, pa: PlannedAction, key: str, ing: dict[str, Any]) -> ActionRequest:
        deps = {ref: dict(self.results[dpa.id].outputs) for ref, dpa in sorted(pa.deps.items())}
        return ActionRequest(pa.id, key, ing, self.root, tuple(pa.action.inputs), deps,
                             tuple(pa.action.outputs), dict(ing["tools"]))

    def _execute(self, pa: PlannedAction, key: str) -> dict[str, OutputFile]:
        executor = self.executor_for(pa)
        if executor not in self._executors:
            self._executors.append(executor)
        ex = executor.execute(pa, key)
        a = pa.action
        if not ex.succeeded:
            raise ActionFailed(f"{a.id} failed (exit {ex.exit_code}): {shlex.join(ex.failed_command)}"
                               + _tail(ex.log))
        if ex.out_dir is None:
            # A remote executor's outputs are already in the store: place them like a cache hit.
            if ex.result is None:
                raise ActionFailed(f"{a.id}: the executor reported success without outputs")
            restored = self.layout.tmp("restore")
            cache.restore(self.store, ex.result, restored)
            self.layout.swap_into(restored, self.layout.out_dir(pa))
            return dict(ex.result.outputs)
        return self._store_local(pa, key, ex, ex.out_dir)

    def _store_local(self, pa: PlannedAction, key: str, ex: Execution, out: Path) -> dict[str, OutputFile]:
        a = pa.action
        missing = [rel for rel in a.outputs if not os.path.isfile(out / rel)]
        if missing:
            raise ActionFailed(f"{a.id}: finished but did not write {', '.join(missing)}" + _tail(ex.log))
        result = cache.record(self.store, key, out, a.outputs, ex.log, Path(f"{out}.stdout"))
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
