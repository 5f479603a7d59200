"""The local executor: an action's commands as processes on this machine, in a fresh directory.

Placeholders become local paths here ({out}, {work}, {state}, {dep:NAME}, {tool:NAME}), so that
keys never hold them and a remote executor can map them to its own.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ppm.build.layout import Layout
from ppm.build.plan import Plan, PlannedAction
from ppm.build.results import Cancelled, Execution
from ppm.build.store import ActionRef
from ppm.core.errors import ActionFailed
from ppm.core.fsutil import rmtree

PLACEHOLDER = re.compile(r"\{(out|work|project|src|state|dep:[^{}]+|tool:[^{}]+)\}")


def command_argv(cmd: Sequence[str], dirs: Mapping[str, str], dep: Callable[[str], str],
                 tool: Callable[[str], list[str]]) -> list[str]:
    """A command with its placeholders (ppm.core.action) filled in: `dirs` for the directory
    words, `dep(ref)` for a need's directory, `tool(name)` for a toolchain's argv. A word that is
    only `{tool:NAME}` becomes that argv's words; inside a word it is the argv, shell-quoted.
    This machine's executor and a remote worker's runner both expand commands with it."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in dirs:
            return dirs[name]
        kind, _, arg = name.partition(":")
        if kind == "dep":
            return dep(arg)
        if kind == "tool":
            return shlex.join(tool(arg))
        raise ActionFailed(f"unknown placeholder {m.group(0)}")

    argv: list[str] = []
    for word in cmd:
        m = PLACEHOLDER.fullmatch(word)
        if m and m.group(1).startswith("tool:"):
            argv.extend(tool(m.group(1)[5:]))
        else:
            argv.append(PLACEHOLDER.sub(sub, word))
    return argv


class LocalExecutor:
    """Runs at most `jobs` processes at once (the -j bound)."""

    def __init__(self, plan: Plan, layout: Layout, *, jobs: int, base_env: Mapping[str, str] | None = None) -> None:
        self.plan = plan
        self.layout = layout
        self.base_env = dict(os.environ if base_env is None else base_env)
        self._slots = threading.BoundedSemaphore(max(1, jobs))
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def _argv(self, pa: PlannedAction, cmd: Sequence[str], dirs: Mapping[str, str]) -> list[str]:
        return command_argv(cmd, dirs, lambda ref: self._dep_dir(pa, ref), lambda name: self._tool_argv(pa, name))

    def _dep_dir(self, pa: PlannedAction, ref: str) -> str:
        if ref not in pa.deps:
            raise ActionFailed(f"{pa.action.id}: {{dep:{ref}}} names no need of this action")
        return str(self.layout.out_dir(pa.deps[ref]))

    def _tool_argv(self, pa: PlannedAction, name: str) -> list[str]:
        tc = self.plan.toolchains.get(name)
        if tc is None or not tc.usable:
            raise ActionFailed(f"{pa.action.id}: toolchain {name!r} is not available")
        return list(tc.argv)

    def execute(self, pa: PlannedAction, ref: ActionRef) -> Execution:
        a = pa.action
        base = os.path.join(self.layout.tmp_root, f"act-{uuid.uuid4().hex[:12]}")
        out, work = base, base + ".work"
        os.mkdir(out)
        # {work} and {state} are made only for actions that name them: thousands of small
        # compiles would otherwise spend more time on directories than on compiling.
        words = [a.cwd, *(w for cmd in a.commands for w in cmd), *a.env.values()]
        uses_work = any("{work}" in w for w in words)
        if uses_work:
            os.mkdir(work)
        state = self.layout.incremental_dir(pa)
        if any("{state}" in w for w in words):
            self.layout.mkdirs(state)
        dirs = {"out": out, "work": work, "project": str(self.plan.root),
                "src": os.path.join(self.plan.root, pa.component.path), "state": state}
        env = dict(self.base_env)
        for t in a.tools:
            env.update(self.plan.toolchains[t].env)
        for ename, dpa in pa.env_deps.items():
            env[f"PPM_DEP_{ename}"] = str(self.layout.out_dir(dpa))
        env["PPM_TARGET"] = pa.target.name
        env.update({k: self._argv(pa, [v], dirs)[0] for k, v in a.env.items()})
        cwd = self._argv(pa, [a.cwd], dirs)[0]
        log: list[bytes] = []
        for cmd in a.commands:
            argv = self._argv(pa, cmd, dirs)
            if argv and argv[0].startswith("@"):
                _internal(a.id, argv, cwd)
                continue
            rc = self._spawn(a.id, argv, cwd, env, log)
            if rc != 0:
                return Execution(rc, b"".join(log), failed_command=tuple(argv))
        if uses_work:
            rmtree(Path(work))
        return Execution(0, b"".join(log), out_dir=Path(out))

    def _spawn(self, aid: str, argv: list[str], cwd: str, env: dict[str, str], log: list[bytes]) -> int:
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
        return rc

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def _internal(aid: str, argv: list[str], cwd: str) -> None:
    op = argv[0]
    try:
        if op == "@copy" and len(argv) == 3:
            src, dst = (Path(cwd) / argv[1]), (Path(cwd) / argv[2])
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif op == "@mkdir" and len(argv) == 2:
            (Path(cwd) / argv[1]).mkdir(parents=True, exist_ok=True)
        elif op == "@write" and len(argv) in (3, 4):
            # ["@write", PATH, TEXT] or with an octal MODE: a wrapper script a tool runs.
            p = Path(cwd) / argv[1]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(argv[2], encoding="utf-8")
            if len(argv) == 4:
                p.chmod(int(argv[3], 8))
        else:
            raise ActionFailed(f"{aid}: unknown engine command {shlex.join(argv)}")
    except OSError as e:
        raise ActionFailed(f"{aid}: {op} failed: {e}") from None
