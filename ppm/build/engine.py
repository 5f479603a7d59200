"""The engine: runs a plan's actions in parallel through the content-addressed cache.

Each action becomes, in order: a key (builder, toolchains, settings, target, commands, input
digests, the output digests of the actions it needs), then one of
  up to date  its materialized outputs are those its key produced last time
  cached      the action cache knows the key: outputs are verified and restored from the CAS
  ran         its commands run in a fresh directory; outputs go to the CAS, then the cache
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm.build.layered import ActionRequest
from ppm.build.layered import RemoteLayer
from ppm.build.store import OutputFile
from ppm.build.store import Store
from ppm.core.errors import ActionFailed
from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_text
from ppm.core.fsutil import rmtree
from ppm.build.plan import Plan
from ppm.build.plan import PlannedAction
from ppm.build.statcache import StatCache

_PLACEHOLDER = re.compile(r"\{(out|work|project|src|state|dep:[^{}]+|tool:[^{}]+)\}")
TAIL_LINES = 30


@dataclass
class Result:
    id: str
    status: str  # "up-to-date" | "cached" | "ran" | "failed" | "skipped"
    key: str = ""
    reason: str = ""
    outputs: dict[str, OutputFile] = field(default_factory=dict)
    out_dir: str = ""
    start: float = 0.0
    end: float = 0.0
    error: str = ""
    remote: bool = False  # "cached" from the remote cache, or "ran" on a remote executor
    lazy: bool = False  # remote outputs not downloaded: nothing here needed them (yet)


class Cancelled(Exception):
    pass


class Engine:
    def __init__(self, plan: Plan, *, jobs: int, keep_going: bool = False, store: Store | None = None,
                 progress: Any = None, remote: RemoteLayer | None = None) -> None:
        from ppm.core.paths import cache_dir
        from ppm.core.paths import state_dir

        self.plan = plan
        self.root = plan.root
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.state = state_dir(self.root)
        self.store = store or Store(cache_dir() / "store")
        self.progress = progress
        self.remote = remote  # consulted only after a local miss
        # With a remote executor, outputs are downloaded only for what runs here or is bundled.
        # The bundle is made from the entry component's last action; a project without an entry
        # wants every component's last outputs.
        entry = plan.manifest.entry
        self._finals = {f.id for (t, c), f in plan.finals.items() if entry is None or c == entry}
        self._fetch_lock = threading.Lock()
        self.stat = StatCache(self.state / "statcache.json", self.root)
        self.results: dict[str, Result] = {}
        self.previous = self._load_record()
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._slots = threading.BoundedSemaphore(self.jobs)
        self._made: set[str] = set()
        self._base_env = dict(os.environ)
        from ppm.targets import host

        self._host = host().name  # the machine that runs actions: part of the key (see "host" below)
        self.tmp_root = str(self.state / "tmp")

    # -- records ---------------------------------------------------------------------------
    def _load_record(self) -> dict[str, Any]:
        try:
            data = json.loads((self.state / "actions.json").read_text())
            return data if isinstance(data, dict) else {}
        except (FileNotFoundError, ValueError):
            return {}

    def out_dir(self, pa: PlannedAction) -> Path:
        # One directory per action, its name escaped so that "compile-src/a.c" stays one level.
        return self.state / "out" / pa.target.name / pa.action.component / pa.action.name.replace("%", "%25").replace("/", "%2F")

    # -- keys ------------------------------------------------------------------------------
    def ingredients(self, pa: PlannedAction) -> dict[str, Any]:
        a = pa.action
        inputs = {}
        for p in a.inputs:
            try:
                inputs[p] = self.stat.digest(p)
            except FileNotFoundError:
                raise ActionFailed(f"{a.id}: input file {p} does not exist",
                                   hint=f"check component {a.component!r}'s sources in ppm.toml") from None
        dirs = {}
        for d in a.scanned_dirs:
            try:
                dirs[d] = hashlib.sha256("\0".join(sorted(os.listdir(self.root / d))).encode()).hexdigest()
            except FileNotFoundError:
                dirs[d] = ""
        deps = {}
        for ref, dpa in sorted(pa.deps.items()):
            r = self.results[dpa.id]
            deps[ref] = {rel: o.digest for rel, o in sorted(r.outputs.items())}
        tcs = self.plan.toolchains
        # Where the sources sit and which needs reach the environment as PPM_DEP_*: with these
        # the ingredients alone say how to run the action, so a remote worker can run it from
        # them (and the REAPI action digest stays a function of the key).
        by_id = {dpa.id: ref for ref, dpa in pa.deps.items()}
        env_deps = {e: by_id.get(dpa.id, dpa.id) for e, dpa in sorted(pa.env_deps.items())}
        return {
            "builder": f"{pa.builder.name}/{pa.builder.schema}",
            "src": pa.component.path,
            "env_deps": env_deps,
            # Toolchain identities already differ between machines; naming the machine that
            # runs the action makes the REAPI platform (OS, ISA) a function of the key too.
            "host": self._host,
            "target": pa.target.name,
            "tools": {t: tcs[t].identity for t in sorted(a.tools)},
            "settings": a.settings,
            "commands": a.commands,
            "env": a.env,
            "cwd": a.cwd,
            "outputs": a.outputs,
            "inputs": inputs,
            "dirs": dirs,
            "deps": deps,
        }

    @staticmethod
    def key_of(ingredients: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(ingredients, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    # -- one action ------------------------------------------------------------------------
    def run_one(self, pa: PlannedAction) -> Result:
        if self._cancel.is_set():
            raise Cancelled()
        start = time.time()
        ing = self.ingredients(pa)
        key = self.key_of(ing)
        prev = self.previous.get("actions", {}).get(pa.id)
        out_dir = self.out_dir(pa)
        res = Result(pa.id, "", key=key, out_dir=str(out_dir), start=start)
        if prev and prev.get("key") == key and self._materialized_ok(out_dir, prev):
            res.status = "up-to-date"
            res.outputs = {rel: OutputFile.from_json(v) for rel, v in prev["outputs"].items()}
            res.reason = "up to date"
        else:
            res.reason = explain(prev.get("ingredients") if prev else None, ing, same_key=bool(prev and prev.get("key") == key))
            cached = self.store.get_action(key)
            if cached is not None and all(self.store.verify(o) for o in cached.values()):
                self._promote_from_cache(cached, out_dir)
                res.status = "cached"
                res.outputs = cached
            else:
                if cached is not None:
                    self.store.drop_action(key)
                    res.reason += " (the cached entry was corrupt and was dropped)"
                if self.remote is None or not self._run_remote(pa, key, ing, res):
                    self._materialize_deps(pa)
                    res.outputs = self._execute(pa, key)
                    res.status = "ran"
                    if self.remote is not None:
                        self.remote.push(self._request(pa, key, ing), res.outputs, self.store)
        res.end = time.time()
        res.ingredients = ing  # type: ignore[attr-defined]
        return res

    def _run_remote(self, pa: PlannedAction, key: str, ing: dict[str, Any], res: Result) -> bool:
        """Answer the action from the remote cache or run it on the remote executor; False when
        it must run here."""
        assert self.remote is not None
        req = self._request(pa, key, ing)
        local = not self.remote.executes or pa.id in self._finals
        outcome = self.remote.fetch(req, self.store, download=local)
        if outcome is not None:
            res.status = "cached"
        elif self.remote.executes:
            outcome = self.remote.execute(req, self.store, download=local)
            if outcome is None:
                return False  # the executor is unreachable and --remote-fallback local
            res.status = "ran"
        else:
            return False
        res.outputs, res.remote, res.lazy = outcome, True, not local
        if local:
            self._promote_from_cache(outcome, Path(res.out_dir))
        return True

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
                    self.remote.download(r.outputs, self.store)
                    self._promote_from_cache(r.outputs, Path(r.out_dir))
                    r.lazy = False

    def _request(self, pa: PlannedAction, key: str, ing: dict[str, Any]) -> ActionRequest:
        deps = {ref: dict(self.results[dpa.id].outputs) for ref, dpa in sorted(pa.deps.items())}
        return ActionRequest(pa.id, key, ing, self.root, tuple(pa.action.inputs), deps,
                             tuple(pa.action.outputs), dict(ing["tools"]))

    def _materialized_ok(self, out_dir: Path, prev: dict[str, Any]) -> bool:
        stats = prev.get("out_stats", {})
        for rel in prev.get("outputs", {}):
            try:
                st = os.stat(out_dir / rel)
            except FileNotFoundError:
                return False
            if stats.get(rel) != [st.st_size, st.st_mtime_ns, st.st_ino]:
                return False
        return True

    def _promote_from_cache(self, outputs: dict[str, OutputFile], out_dir: Path) -> None:
        new = self._tmp("restore")
        for rel, o in outputs.items():
            self.store.materialize(o, new / rel)
        self._swap_into(new, out_dir)

    def _tmp(self, what: str) -> Path:
        p = Path(self.tmp_root, f"{what}-{uuid.uuid4().hex[:12]}")
        p.mkdir()
        return p

    def _swap_into(self, new: Path, final: Path) -> None:
        """Replace directory `final` by `new`; a kill at any point leaves `final` whole or absent."""
        self._mkdirs(str(final.parent))
        try:
            os.rename(new, final)  # succeeds when `final` is absent (or an empty directory)
        except OSError:
            trash = os.path.join(self.tmp_root, f"trash-{uuid.uuid4().hex[:12]}")
            os.rename(final, trash)
            os.rename(new, final)
            rmtree(Path(trash))

    def expand(self, pa: PlannedAction, s: str, dirs: dict[str, str]) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in dirs:
                return dirs[name]
            kind, _, arg = name.partition(":")
            if kind == "dep":
                if arg not in pa.deps:
                    raise ActionFailed(f"{pa.action.id}: {{dep:{arg}}} names no need of this action")
                return str(self.out_dir(pa.deps[arg]))
            if kind == "tool":
                tc = self.plan.toolchains.get(arg)
                if tc is None or not tc.usable:
                    raise ActionFailed(f"{pa.action.id}: toolchain {arg!r} is not available")
                return shlex.join(tc.argv)
            raise ActionFailed(f"{pa.action.id}: unknown placeholder {m.group(0)}")

        return _PLACEHOLDER.sub(sub, s)

    def _mkdirs(self, path: str) -> None:
        """mkdir -p, remembering what exists: a build of thousands of actions would otherwise
        spend more time asking for existing directories than running its compilers."""
        if path not in self._made:
            os.makedirs(path, exist_ok=True)
            self._made.add(path)

    def _execute(self, pa: PlannedAction, key: str) -> dict[str, OutputFile]:
        a = pa.action
        base = os.path.join(self.tmp_root, f"act-{uuid.uuid4().hex[:12]}")
        out, work = base, base + ".work"
        os.mkdir(out)
        # {work} and {state} are made only for actions that name them: thousands of small
        # compiles would otherwise spend more time on directories than on compiling.
        words = [a.cwd, *(w for cmd in a.commands for w in cmd), *a.env.values()]
        uses_work = any("{work}" in w for w in words)
        if uses_work:
            os.mkdir(work)
        state = os.path.join(self.state, "incremental", pa.target.name, a.component)
        if any("{state}" in w for w in words):
            self._mkdirs(state)
        dirs = {"out": out, "work": work, "project": str(self.root),
                "src": os.path.join(self.root, pa.component.path), "state": state}
        env = dict(self._base_env)
        for t in a.tools:
            env.update(self.plan.toolchains[t].env)
        for ename, dpa in pa.env_deps.items():
            env[f"PPM_DEP_{ename}"] = str(self.out_dir(dpa))
        env["PPM_TARGET"] = pa.target.name
        env.update({k: self.expand(pa, v, dirs) for k, v in a.env.items()})
        cwd = self.expand(pa, a.cwd, dirs)
        log: list[bytes] = []
        for cmd in a.commands:
            argv: list[str] = []
            for word in cmd:
                m = _PLACEHOLDER.fullmatch(word)
                if m and m.group(1).startswith("tool:"):
                    tc = self.plan.toolchains.get(m.group(1)[5:])
                    if tc is None or not tc.usable:
                        raise ActionFailed(f"{a.id}: toolchain {m.group(1)[5:]!r} is not available")
                    argv.extend(tc.argv)
                else:
                    argv.append(self.expand(pa, word, dirs))
            if argv and argv[0].startswith("@"):
                _internal(a.id, argv, cwd)
                continue
            self._spawn(a.id, argv, cwd, env, log)
        missing = [rel for rel in a.outputs if not os.path.isfile(os.path.join(out, rel))]
        if missing:
            raise ActionFailed(f"{a.id}: finished but did not write {', '.join(missing)}" + _tail(b"".join(log)))
        outputs = {rel: self.store.put_file(Path(out, rel)) for rel in a.outputs}
        self.store.put_action(key, outputs)
        # The materialized directory holds exactly the declared outputs: move {out} itself into
        # place when that is all it holds, else move the outputs into a fresh directory.
        if all("/" not in rel for rel in a.outputs) and sorted(os.listdir(out)) == sorted(a.outputs):
            final = out
        else:
            final = base + ".final"
            for rel in a.outputs:
                dst = os.path.join(final, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.rename(os.path.join(out, rel), dst)
        self._swap_into(Path(final), self.out_dir(pa))
        if final != out:
            rmtree(Path(out))
        if uses_work:
            rmtree(Path(work))
        return outputs

    def _spawn(self, aid: str, argv: list[str], cwd: str, env: dict[str, str], log: list[bytes]) -> None:
        """Run one process, its output (stdout and stderr together) appended to `log`."""
        # A job slot is held only while a process runs: keying, hashing and storing outputs
        # happen outside it, so the next compiler starts the moment one exits.
        with self._slots:
            if self._cancel.is_set():
                raise Cancelled()
            try:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except FileNotFoundError:
                raise ActionFailed(f"{aid}: command not found: {argv[0]}") from None
            except NotADirectoryError:
                raise ActionFailed(f"{aid}: working directory {cwd} does not exist") from None
            with self._lock:
                self._procs.add(proc)
            try:
                data, _ = proc.communicate()  # one pipe: a plain read to EOF, then wait
                log.append(data)
                rc = proc.returncode
            finally:
                with self._lock:
                    self._procs.discard(proc)
        if self._cancel.is_set():
            raise Cancelled()
        if rc != 0:
            raise ActionFailed(f"{aid} failed (exit {rc}): {shlex.join(argv)}" + _tail(b"".join(log)))

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    # -- the whole graph ---------------------------------------------------------------------
    def run(self) -> list[Result]:
        """Run every action; raises ActionFailed (after the others settle) if any failed."""
        rmtree(self.state / "tmp")
        (self.state / "tmp").mkdir(parents=True, exist_ok=True)
        actions = self.plan.actions
        waiting = {pa: len(pa.needs) for pa in actions}
        dependents: dict[PlannedAction, list[PlannedAction]] = {pa: [] for pa in actions}
        for pa in actions:
            for d in pa.needs:
                dependents[d].append(pa)
        ready = deque(pa for pa in actions if not pa.needs)
        failures: list[str] = []
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
                failures.append(msg)
                self.results[pa.id] = Result(pa.id, "failed", error=msg)
                if self.progress:
                    self.progress.failed(pa, msg)
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
                    res = self._run_reporting(pa)
                except BaseException as e:  # noqa: BLE001 - every failure is the action's, reported once
                    err = e
                with cond:
                    inflight -= 1
                    settle(pa, res, err)
                    cond.notify_all()

        # More threads than job slots: a thread keys, restores or stores outputs while others
        # hold the slots that bound the processes running at once (-j). Plain threads on one
        # condition: a future per action cost more in wake-ups than the bookkeeping itself.
        threads = [threading.Thread(target=worker, name=f"ppm-action-{i}", daemon=True) for i in range(self.jobs + 2)]
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
            self._save_record()
        for pa in actions:
            self.results.setdefault(pa.id, Result(pa.id, "skipped", reason="not started"))
        if failures:
            more = f"\n({len(failures) - 1} more action(s) failed; see above)" if len(failures) > 1 else ""
            raise ActionFailed(failures[0] + more)
        return [self.results[pa.id] for pa in actions]

    def _skip_dependents(self, pa: PlannedAction, dependents: dict[PlannedAction, list[PlannedAction]]) -> None:
        stack = list(dependents[pa])
        while stack:
            d = stack.pop()
            if d.id not in self.results:
                self.results[d.id] = Result(d.id, "skipped", reason=f"needs {pa.id}, which failed")
                stack.extend(dependents[d])

    def _run_reporting(self, pa: PlannedAction) -> Result:
        if self.progress:
            self.progress.started(pa)
        res = self.run_one(pa)
        if self.progress:
            self.progress.finished(pa, res)
        return res

    def _save_record(self) -> None:
        actions = dict(self.previous.get("actions", {}))
        for pa in self.plan.actions:
            r = self.results.get(pa.id)
            if r is None or r.status not in ("up-to-date", "cached", "ran"):
                continue
            out_stats = {}
            for rel in r.outputs:
                try:
                    st = os.stat(Path(r.out_dir) / rel)
                    out_stats[rel] = [st.st_size, st.st_mtime_ns, st.st_ino]
                except FileNotFoundError:
                    pass
            actions[pa.id] = {"key": r.key, "outputs": {k: o.to_json() for k, o in r.outputs.items()},
                              "out_stats": out_stats, "ingredients": getattr(r, "ingredients", None)}
        atomic_write_text(self.state / "actions.json", json.dumps({"version": 1, "actions": actions}, separators=(",", ":")))
        self.stat.save()


def _internal(aid: str, argv: list[str], cwd: str) -> None:
    op = argv[0]
    try:
        if op == "@copy" and len(argv) == 3:
            src, dst = (Path(cwd) / argv[1]), (Path(cwd) / argv[2])
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif op == "@mkdir" and len(argv) == 2:
            (Path(cwd) / argv[1]).mkdir(parents=True, exist_ok=True)
        elif op == "@write" and len(argv) == 3:
            p = Path(cwd) / argv[1]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(argv[2], encoding="utf-8")
        else:
            raise ActionFailed(f"{aid}: unknown engine command {shlex.join(argv)}")
    except OSError as e:
        raise ActionFailed(f"{aid}: {op} failed: {e}") from None


def _tail(output: bytes) -> str:
    lines = output.decode(errors="replace").splitlines()
    if not lines:
        return "\n  (the command printed nothing)"
    tail = lines[-TAIL_LINES:]
    head = f"\n  last {len(tail)} of {len(lines)} lines of its output:" if len(lines) > TAIL_LINES else "\n  its output:"
    return head + "".join(f"\n    {line}" for line in tail)


def explain(prev: dict[str, Any] | None, new: dict[str, Any], *, same_key: bool) -> str:
    """Why an action has to be produced again, from the ingredients of its last and new key."""
    if prev is None:
        return "never built in this project"
    if same_key:
        return "its outputs were missing or modified"
    why: list[str] = []
    for section, label in (("inputs", "input"), ("deps", "dependency")):
        a, b = prev.get(section, {}), new.get(section, {})
        for k in sorted(set(a) | set(b)):
            if k not in a:
                why.append(f"{label} {k} added")
            elif k not in b:
                why.append(f"{label} {k} removed")
            elif a[k] != b[k]:
                why.append(f"{label} {k} changed" if section == "inputs" else f"{label} {k}'s output changed")
    for k in sorted(set(prev.get("dirs", {})) | set(new.get("dirs", {}))):
        if prev.get("dirs", {}).get(k) != new.get("dirs", {}).get(k):
            why.append(f"files were added to or removed from {k}/")
    a, b = prev.get("settings", {}), new.get("settings", {})
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            why.append(f"setting {k} changed ({a.get(k)!r} -> {b.get(k)!r})")
    a, b = prev.get("tools", {}), new.get("tools", {})
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            why.append(f"toolchain {k} changed")
    for k, label in (("builder", "builder version"), ("target", "target"), ("commands", "command"),
                     ("env", "environment"), ("cwd", "working directory"), ("outputs", "declared outputs")):
        if prev.get(k) != new.get(k):
            why.append(f"{label} changed")
    return "; ".join(why) if why else "its key changed"
