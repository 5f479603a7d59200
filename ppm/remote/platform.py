"""Platform properties: what an action needs of the machine that runs it, and what a worker has.

OSFamily and ISA use REAPI's customary names; each pinned toolchain an action uses is one
value `<name>=<identity>` of the property `ppm-toolchain` (REAPI allows a name to repeat), so
a server matches an action only to a worker that offers those exact toolchains, and needs
one registered property name for all of them. The engine computes an action's platform from its
key's ingredients (ppm.build.platform.platform_of); this module is the worker's side.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppm.build.platform import TOOL_KEY, machine_platform, platform_of

__all__ = ["TOOL_KEY", "host_platform", "platform_properties"]


def host_platform(name: str | None = None) -> list[tuple[str, str]]:
    """OSFamily and ISA of the machine `name` (a target name; default: this one)."""
    return machine_platform(name)


def platform_properties(tools: Mapping[str, str], host_name: str | None = None) -> list[tuple[str, str]]:
    """The action's properties, sorted by name then value as REAPI requires."""
    return list(platform_of({"tools": dict(tools), "host": host_name}))
