"""`ppm worker exec .ppm-action.json`: run one ppm action inside a REAPI input root.

This is the program a ppm Action's Command names. `ppm worker` runs it in its own process,
one thread per lease (`exec_action` with a `Runner` that captures each command's output and
lets the worker kill it); `ppm worker exec` is the same as a command line, for a person
debugging a lease directory by hand. The input root (see mapping.py) holds the key
ingredients in .ppm-action.json, the sources under project/, the needs' outputs under deps/;
outputs go to out/. The placeholders of the action's commands are filled in against that root
and each toolchain is checked to be the exact build the action was keyed with (provisioned
here when missing) before anything runs. Every command is a subprocess in its own session,
with a clean environment, in the lease's directory.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppm import toolchains
from ppm.build.localexec import (  # the engine's own @copy/@mkdir/@write and placeholders, not copies
    _internal,
    command_argv,
)
from ppm.core.errors import ActionFailed, ToolchainError
from ppm.remote.mapping import UnsafePath, check_relpath

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env(home: Path) -> dict[str, str]:
    """The environment every lease starts from: nothing of the worker's own leaks in."""
    return {"PATH": CLEAN_PATH, "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def load_toolchains(tools: dict[str, str]) -> dict[str, Any]:
    """Each toolchain the action names, provisioned if needed, and exactly the build it was keyed with."""
    found = toolchains.resolve(sorted(tools), provision=True)
    for name, identity in tools.items():
        tc = found[name]
        if not tc.usable:
            raise ToolchainError(f"toolchain {name} is not usable on this worker: {tc.note or 'not found'}")
        if tc.identity != identity:
            raise ToolchainError(f"toolchain {name} on this worker is {tc.version} ({tc.identity[:12]}), "
                                 f"the action needs {identity[:12]}")
    return found


class ToolchainCache:
    """The toolchains a long-running worker has resolved, kept between leases.

    Resolving probes or provisions (seconds for a download, tens of ms for a probe); a worker
    process asks for the same few toolchains thousands of times. A cached toolchain is used
    only when its identity is the one the action names; on any difference (the machine's
    compiler changed under the worker) it is resolved afresh, and the fresh answer decides.
    One lock: two leases never provision the same toolchain at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[str, Any] = {}

    def load(self, tools: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            if all(n in self._found and self._found[n].identity == i for n, i in tools.items()):
                return {n: self._found[n] for n in tools}
            found = load_toolchains(tools)  # raises when one is unusable or another build
            self._found.update(found)
            return found


class Runner:
    """How `exec_action` runs commands: in the foreground with our own stdout (the command
    line), or capturing their output for the lease's result and telling the worker about each
    process so that a cancelled lease can be killed (`ppm worker`)."""

    def __init__(self, *, capture: bool = False, track: Callable[[subprocess.Popen | None], None] | None = None,
                 toolchains: ToolchainCache | None = None) -> None:
        self.capture = capture
        self.track = track
        self.toolchains = toolchains
        self.output = bytearray()

    def say(self, text: str) -> None:
        if self.capture:
            self.output += text.encode()
        else:
            print(text.rstrip("\n"), file=sys.stderr)

    def load(self, tools: dict[str, str]) -> dict[str, Any]:
        return self.toolchains.load(tools) if self.toolchains is not None else load_toolchains(tools)

    def call(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        if not self.capture:
            return subprocess.call(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            self.say(f"ppm worker: cannot run {argv[0]}: {e}\n")
            return 127
        if self.track is not None:
            self.track(proc)
        try:
            out, _ = proc.communicate()
        finally:
            if self.track is not None:
                self.track(None)
        self.output += out
        return proc.returncode


def exec_action(root: Path, action_file: str, runner: Runner | None = None) -> int:
    """Run the action described by `root/action_file`; its processes' output goes to ours, or
    to `runner.output`."""
    runner = runner or Runner()
    spec = json.loads((root / action_file).read_text(encoding="utf-8"))
    src = "/".join(check_relpath(spec["src"])) if spec.get("src") not in (None, "", ".") else ""
    out, work, state = root / "out", root / "work", root / "state"
    for d in (out, work, state):
        d.mkdir(exist_ok=True)
    for rel in spec["outputs"]:
        (out / "/".join(check_relpath(rel))).parent.mkdir(parents=True, exist_ok=True)
    dirs = {"out": str(out), "work": str(work), "project": str(root / "project"),
            "src": str(root / "project" / src) if src else str(root / "project"), "state": str(state)}
    deps = set(spec.get("deps", {}))
    tcs = runner.load(spec.get("tools", {}))

    def dep_dir(ref: str) -> str:
        if ref not in deps:
            raise ActionFailed(f"{{dep:{ref}}} names no need of this action")
        return str(root / "deps" / ref.replace("%", "%25").replace("/", "%2F"))

    def argv_of(cmd: list[str]) -> list[str]:
        return command_argv(cmd, dirs, dep_dir, lambda name: list(tcs[name].argv))

    env = clean_env(work)
    for t in spec.get("tools", {}):
        env.update(tcs[t].env)
    for ename, ref in spec.get("env_deps", {}).items():
        env[f"PPM_DEP_{ename}"] = dep_dir(ref)
    env["PPM_TARGET"] = spec["target"]
    env.update({k: argv_of([v])[0] for k, v in spec.get("env", {}).items()})
    cwd = argv_of([spec.get("cwd", "{src}")])[0]
    os.makedirs(cwd, exist_ok=True)
    for cmd in spec["commands"]:
        argv = argv_of(cmd)
        if argv and argv[0].startswith("@"):
            _internal("action", argv, cwd)
            continue
        rc = runner.call(argv, cwd, env)
        if rc != 0:
            runner.say(f"ppm worker: command failed (exit {rc}): {shlex.join(argv)}\n")
            return rc
    missing = [rel for rel in spec["outputs"] if not (out / rel).is_file()]
    if missing:
        runner.say(f"ppm worker: the action finished but did not write {', '.join(missing)}\n")
        return 1
    return 0


def main(action_file: str) -> int:
    try:
        return exec_action(Path.cwd(), action_file)
    except (ActionFailed, ToolchainError, UnsafePath, KeyError, ValueError) as e:
        print(f"ppm worker: {e}", file=sys.stderr)
        return 1
