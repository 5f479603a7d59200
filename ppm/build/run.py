"""`ppm build`: plan, run the engine under the project lock, place the bundles, record a no-op."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from ppm.build import fastpath
from ppm.build.engine import Engine
from ppm.build.executor import Executor
from ppm.build.localstore import LocalStore
from ppm.build.plan import Plan, PlannedAction, make_plan
from ppm.build.prune import auto_prune
from ppm.build.store import LayeredStore, Store
from ppm.core import config, manifest
from ppm.core.errors import PpmError
from ppm.core.fsutil import sha256_file
from ppm.core.paths import cache_dir, state_dir
from ppm.lockfile.sync import ensure_synced


class Remote(Protocol):
    """What lies beyond this machine, as the build plugs it into the engine's seams (built by
    the CLI from ppm.remote, which this layer never imports): a Store behind the local one, and
    the executor for each action."""

    executes: bool  # whether actions run remotely (REAPI Execute), not only cached there
    executor_url: str | None  # the executor, when `executes`

    def store(self, near: LocalStore) -> Store: ...

    def executor_for(self, pa: PlannedAction, local: Executor) -> Executor: ...

    def close(self) -> None: ...


@dataclass
class BuildSummary:
    project: str
    targets: list[str]
    planned: int = 0
    executed: int = 0
    cached: int = 0
    up_to_date: int = 0
    failed: int = 0
    remote_cached: int = 0  # of `cached`: answered by the remote cache
    remote_executed: int = 0  # of `executed`: run on a remote executor
    skipped_components: dict[str, str] = field(default_factory=dict)
    unbuildable: dict[str, str] = field(default_factory=dict)  # "target/component" -> why not from this machine
    actions: list[dict[str, Any]] = field(default_factory=list)
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> {path, sha256, size}
    seconds: float = 0.0
    # (target, component) -> paths of its materialized outputs (for `ppm run COMPONENT`, `ppm dev`)
    finals: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    plan: Any = None  # the Plan that was run (`ppm dev` reads its toolchains and outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project, "targets": self.targets, "seconds": round(self.seconds, 4),
            "actions_planned": self.planned, "actions_executed": self.executed, "actions_cached": self.cached,
            "actions_up_to_date": self.up_to_date, "actions_failed": self.failed,
            "actions_remote_cached": self.remote_cached, "actions_remote_executed": self.remote_executed,
            "skipped_components": self.skipped_components, "unbuildable": self.unbuildable, "actions": self.actions, "bundles": self.bundles,
        }


def build(root: Path, *, targets: list[str] | None = None, jobs: int | None = None, keep_going: bool = False,
          progress: Any = None, report: Any = None, components: list[str] | None = None, remote: Any = None) -> BuildSummary:
    """Build the project (or only `components` and what they need: then the entry's bundle is
    placed only when it is among them, and no no-op record is written, since it would answer
    for the whole project)."""
    t0 = time.time()
    state = state_dir(root)
    state.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state / "build.lock"))
    try:
        lock.acquire(timeout=0.05)
    except Timeout:
        if report:
            report("waiting for another ppm build in this project to finish…")
        lock.acquire()
    try:
        fastpath.forget(root)
        user = config.load()  # read first: a malformed file is named before any work is done
        m = manifest.load(root)
        ensure_synced(root, m, report=report)  # cheap when the lock has not changed
        seams: Remote | None = remote(m) if remote is not None else None
        # With a remote executor, a builder that builds only for its own machine is planned for
        # the other targets too: a worker of that platform runs it.
        plan = make_plan(m, targets, report=report, components=components or None,
                         elsewhere=bool(seams and seams.executes))
        for name, why in plan.skipped.items():
            if report:
                report(f"note: skipping optional component {name!r}: {why}")
        for why in plan.unbuildable.values():
            # One line each for what only its own platform builds; components that merely
            # need one of those are listed in --json, not repeated here.
            if report and not why.startswith("needs "):
                report(f"note: not built: {why}")
        if progress is not None:
            progress.total = len(plan.actions)
        local = LocalStore(cache_dir() / "store")
        engine = Engine(plan, jobs=jobs or os.cpu_count() or 1, keep_going=keep_going, progress=progress,
                        store=LayeredStore(local, seams.store(local)) if seams else local,
                        executor_for=seams.executor_for if seams else None,
                        lazy_outputs=bool(seams and seams.executes), want=components)
        summary = BuildSummary(m.name, [t.name for t in plan.targets], planned=len(plan.actions),
                               skipped_components=dict(plan.skipped),
                               unbuildable={f"{t}/{c}": why for (t, c), why in plan.unbuildable.items()})
        try:
            results = engine.run()
        except PpmError as e:
            e.summary = summary  # filled in below, for --json
            raise
        finally:
            for pa in plan.actions:
                r = engine.results.get(pa.id)
                if r is None:
                    continue
                summary.actions.append({
                    "id": r.id, "status": r.status, "reason": r.reason or r.error, "key": r.key, "remote": r.remote,
                    "start": round(r.start, 4), "end": round(r.end, 4),
                    "outputs": {rel: {"path": str(Path(r.out_dir) / rel), "sha256": o.digest, "size": o.size}
                                for rel, o in sorted(r.outputs.items())},
                })
            counts = {s: sum(1 for a in summary.actions if a["status"] == s) for s in ("ran", "cached", "up-to-date", "failed")}
            summary.executed, summary.cached = counts["ran"], counts["cached"]
            summary.up_to_date, summary.failed = counts["up-to-date"], counts["failed"]
            summary.remote_cached = sum(1 for a in summary.actions if a["status"] == "cached" and a["remote"])
            summary.remote_executed = sum(1 for a in summary.actions if a["status"] == "ran" and a["remote"])
            summary.seconds = time.time() - t0
            if seams is not None:
                seams.close()  # a failed build closes its channels too
        summary.plan = plan
        for (tname, comp), pa in plan.finals.items():
            r = engine.results[pa.id]
            summary.finals[(tname, comp)] = [Path(r.out_dir) / rel for rel in pa.action.outputs]
        bundle_files = place_bundles(plan, engine, summary)
        summary.seconds = time.time() - t0
        if plan.unbuildable:
            fastpath.forget(root)  # the no-op answer could not repeat the notes above: take the full path
        elif not components:
            # A plan that only a remote executor can carry out (actions for another platform) is a
            # no-op only with that same executor: the fast path checks it.
            elsewhere = any(pa.runs_on is not None for pa in plan.actions)
            fastpath.record(root, plan, engine, results, bundle_files, summary,
                            executor={"url": seams.executor_url if seams else None,
                                      "toml": m.remote.get("executor")} if elsewhere else None)
        auto_prune(user, report=report)
        return summary
    finally:
        lock.release()


def place_bundles(plan: Plan, engine: Engine, summary: BuildSummary) -> list[Path]:
    """Copy each target's entry executable to dist/<target>/ (atomically, only when it changed)."""
    m = plan.manifest
    placed: list[Path] = []
    if not m.entry or m.entry in plan.skipped or m.entry not in plan.order:
        return placed
    for t in plan.targets:
        if (t.name, m.entry) in plan.unbuildable:
            continue
        final = plan.finals[(t.name, m.entry)]
        res = engine.results[final.id]
        rel = final.action.outputs[0]
        o = res.outputs[rel]
        dest = m.root / "dist" / t.name / Path(rel).name
        if not (dest.is_file() and dest.stat().st_size == o.size and sha256_file(dest) == o.digest):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(Path(res.out_dir) / rel, tmp)
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
        summary.bundles[t.name] = {"path": str(dest), "sha256": o.digest, "size": o.size}
        placed.append(dest)
    return placed
