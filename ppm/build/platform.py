"""An action's REAPI platform: what it needs of the machine that runs it, from its key.

OSFamily and ISA use REAPI's customary names; each toolchain an action uses that ppm finds on
the machine (cc, cargo, go, ...) is one value `<name>=<identity>` of the property `ppm-toolchain`
(REAPI allows a name to repeat). Toolchains ppm provisions itself at its pins (zig, esbuild,
PyInstaller, Nuitka) are not properties: any worker provisions them for the lease and checks
their identity against the action's ingredients (which the input root carries, so the action
digest still names them). A worker then offers few properties, and BuildGrid, which matches a
job against every subset of a bot's properties (2^N rows per bot), stays cheap. The machine
is the one the key's ingredients name (`host`): this one, or for an action of a builder that
builds only for its own machine planned for another target, a machine of that target. So the
platform is a function of the key, and with it the REAPI action digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ppm.targets import get, host
from ppm.toolchains.pins import PROVISIONED

_ISA = {"x86_64": "x86-64", "aarch64": "aarch64", "wasm32": "wasm32"}
TOOL_KEY = "ppm-toolchain"


def machine_platform(name: str | None = None) -> list[tuple[str, str]]:
    """OSFamily and ISA of the machine `name` (a target name; default: this one)."""
    t = get(name) if name else host()
    return [("ISA", _ISA.get(t.arch, t.arch)), ("OSFamily", t.os)]


def platform_of(ingredients: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The properties an action needs, sorted by name then value as REAPI requires."""
    tools = ingredients.get("tools", {})
    return tuple(sorted([*machine_platform(ingredients.get("host")),
                         *((TOOL_KEY, f"{n}={i}") for n, i in tools.items() if n not in PROVISIONED)]))
