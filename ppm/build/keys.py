"""Action keys: what an action's result depends on, hashed; and why a key changed.

A key covers the builder and its schema version, the toolchains' identities, settings, target,
command and environment templates, input digests and the output digests of the actions it
needs (early cutoff): never a path or a time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ppm.build.plan import Plan, PlannedAction
from ppm.build.platform import platform_of
from ppm.build.results import OutputFile
from ppm.build.statcache import StatCache
from ppm.core.errors import ActionFailed

__all__ = ["explain", "ingredients", "key_of", "platform_of"]


def ingredients(pa: PlannedAction, plan: Plan, stat: StatCache,
                dep_outputs: Mapping[str, Mapping[str, OutputFile]]) -> dict[str, Any]:
    """What `pa`'s key is made of; `dep_outputs` maps each action id it needs to its outputs."""
    a = pa.action
    root: Path = plan.root
    inputs = {}
    for p in a.inputs:
        try:
            inputs[p] = stat.digest(p)
        except FileNotFoundError:
            raise ActionFailed(f"{a.id}: input file {p} does not exist",
                               hint=f"check component {a.component!r}'s sources in ppm.toml") from None
    dirs = {}
    for d in a.scanned_dirs:
        try:
            dirs[d] = hashlib.sha256("\0".join(sorted(os.listdir(root / d))).encode()).hexdigest()
        except FileNotFoundError:
            dirs[d] = ""
    deps = {ref: {rel: o.digest for rel, o in sorted(dep_outputs[dpa.id].items())}
            for ref, dpa in sorted(pa.deps.items())}
    tcs = plan.toolchains
    # Where the sources sit (relative to the project) and which needs reach the environment as
    # PPM_DEP_*: with these the ingredients alone say how to run the action, so a remote worker
    # runs it from them, and the REAPI action digest stays a function of the key (ppm.remote.mapping).
    by_id = {dpa.id: ref for ref, dpa in pa.deps.items()}
    env_deps = {e: by_id.get(dpa.id, dpa.id) for e, dpa in sorted(pa.env_deps.items())}
    return {
        "builder": f"{pa.builder.name}/{pa.builder.schema}",
        "src": pa.component.path,
        "env_deps": env_deps,
        # Toolchain identities already differ between machines; naming the machine that runs
        # the action makes the REAPI platform (OS, ISA) a function of the key too. An action of a
        # builder that builds only for its own machine (PyInstaller, ...) planned for another
        # target runs on a machine of that target (a remote worker of its platform).
        "host": pa.runs_on.name if pa.runs_on is not None else _host(),
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


@functools.cache
def _host() -> str:
    from ppm.targets import host

    return host().name


def key_of(ingredients: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ingredients, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def explain(prev: Mapping[str, Any] | None, new: Mapping[str, Any], *, same_key: bool) -> str:
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
        if _plain(prev.get(k)) != _plain(new.get(k)):
            why.append(f"{label} changed")
    return "; ".join(why) if why else "its key changed"


def _plain(v: Any) -> Any:
    """A value as JSON gives it back: the record holds lists where a fresh Action holds tuples."""
    return json.loads(json.dumps(v))
