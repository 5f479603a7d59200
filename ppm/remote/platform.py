"""Platform properties: what an action needs of the machine that runs it, and what a worker has.

OSFamily and ISA use REAPI's customary names; each pinned toolchain an action uses is one
value `<name>=<identity>` of the property `ppm-toolchain` (REAPI allows a name to repeat), so
a server matches an action only to a worker that offers those exact toolchains, and needs
one registered property name for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppm.targets import get, host

_ISA = {"x86_64": "x86-64", "aarch64": "aarch64", "wasm32": "wasm32"}
TOOL_KEY = "ppm-toolchain"


def host_platform(name: str | None = None) -> list[tuple[str, str]]:
    """OSFamily and ISA of the machine `name` (a target name; default: this one)."""
    t = get(name) if name else host()
    return [("ISA", _ISA.get(t.arch, t.arch)), ("OSFamily", t.os)]


def platform_properties(tools: Mapping[str, str], host_name: str | None = None) -> list[tuple[str, str]]:
    """The action's properties, sorted by name then value as REAPI requires."""
    return sorted([*host_platform(host_name), *((TOOL_KEY, f"{n}={i}") for n, i in tools.items())])
