"""Platform properties: what an action needs of the machine that runs it, and what a worker has.

OSFamily and ISA use REAPI's customary names; each pinned toolchain an action uses is one
property `ppm-toolchain:<name>` = its identity (version and digest), so a worker only takes
actions whose exact toolchains it can provision.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppm.targets import host

_ISA = {"x86_64": "x86-64", "aarch64": "aarch64", "wasm32": "wasm32"}
TOOL_PREFIX = "ppm-toolchain:"


def host_platform() -> dict[str, str]:
    t = host()
    return {"OSFamily": t.os, "ISA": _ISA.get(t.arch, t.arch)}


def platform_properties(tools: Mapping[str, str]) -> dict[str, str]:
    props = host_platform()
    for name, identity in sorted(tools.items()):
        props[TOOL_PREFIX + name] = identity
    return props
