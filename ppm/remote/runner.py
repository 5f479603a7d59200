"""`ppm worker exec .ppm-action.json`: run one ppm action inside a REAPI input root.

This is the program a ppm Action's Command names. The current directory is the input root
(see mapping.py): the key ingredients in .ppm-action.json, the sources under project/, the
needs' outputs under deps/; outputs go to out/. The placeholders of the action's commands
are filled in against that root and each toolchain is checked to be the exact build the
action was keyed with (provisioned here when missing) before anything runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from ppm import toolchains
from ppm.core.errors import ActionFailed, ToolchainError
from ppm.remote.mapping import UnsafePath, check_relpath

_PLACEHOLDER = re.compile(r"\{(out|work|project|src|state|dep:[^{}]+|tool:[^{}]+)\}")
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


def exec_action(root: Path, action_file: str) -> int:
    """Run the action described by `root/action_file`; its processes' output goes to ours."""
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
    tcs = load_toolchains(spec.get("tools", {}))

    def dep_dir(ref: str) -> str:
        if ref not in deps:
            raise ActionFailed(f"{{dep:{ref}}} names no need of this action")
        return str(root / "deps" / ref.replace("%", "%25").replace("/", "%2F"))

    def expand(word: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in dirs:
                return dirs[name]
            kind, _, arg = name.partition(":")
            if kind == "dep":
                return dep_dir(arg)
            return shlex.join(tcs[arg].argv)
        return _PLACEHOLDER.sub(sub, word)

    env = clean_env(work)
    for t in spec.get("tools", {}):
        env.update(tcs[t].env)
    for ename, ref in spec.get("env_deps", {}).items():
        env[f"PPM_DEP_{ename}"] = dep_dir(ref)
    env["PPM_TARGET"] = spec["target"]
    env.update({k: expand(v) for k, v in spec.get("env", {}).items()})
    cwd = expand(spec.get("cwd", "{src}"))
    os.makedirs(cwd, exist_ok=True)
    from ppm.build.localexec import (
        _internal,  # the engine's own @copy/@mkdir/@write, not a copy of them
    )

    for cmd in spec["commands"]:
        argv: list[str] = []
        for word in cmd:
            m = _PLACEHOLDER.fullmatch(word)
            if m and m.group(1).startswith("tool:"):
                argv.extend(tcs[m.group(1)[5:]].argv)
            else:
                argv.append(expand(word))
        if argv and argv[0].startswith("@"):
            _internal("action", argv, cwd)
            continue
        rc = subprocess.call(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        if rc != 0:
            print(f"ppm worker: command failed (exit {rc}): {shlex.join(argv)}", file=sys.stderr)
            return rc
    missing = [rel for rel in spec["outputs"] if not (out / rel).is_file()]
    if missing:
        print(f"ppm worker: the action finished but did not write {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def main(action_file: str) -> int:
    try:
        return exec_action(Path.cwd(), action_file)
    except (ActionFailed, ToolchainError, UnsafePath, KeyError, ValueError) as e:
        print(f"ppm worker: {e}", file=sys.stderr)
        return 1
