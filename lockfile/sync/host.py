"""Which locked artifacts this machine installs: npm's os/cpu fields, wheel tags."""

from __future__ import annotations

import os
import sys
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ppm import targets as targets_mod
from ppm.lockfile import model
from ppm.lockfile.export import _wheel_name as wheel_name
from ppm.lockfile.resolvers.pypi import wheel_fits


def npm_fits(p: model.Package) -> bool:
    plat = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    machine = (os.uname().machine if hasattr(os, "uname") else "x86_64").lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)

    def ok(values: Any, here: str) -> bool:
        vals = list(values or [])
        if not vals:
            return True
        neg = [v[1:] for v in vals if v.startswith("!")]
        pos = [v for v in vals if not v.startswith("!")]
        return here not in neg and (not pos or here in pos)

    return ok(p.extra.get("os"), plat) and ok(p.extra.get("cpu"), arch)


def needed_on_host(ecosystem: str, p: model.Package) -> bool:
    """Whether this machine's build needs the package (ppm.lock records the targets that reach a
    package when not all do). Cargo and Go need every locked package in their locked, offline
    modes whatever the target (they pick per target themselves: cfg tables, build
    constraints), so only PyPI, npm and Maven packages are left out here."""
    if not p.targets or ecosystem in ("cargo", "go"):
        return True
    return targets_mod.host().name in p.targets


def wheels_for_host(p: model.Package) -> list[model.Artifact]:
    host = targets_mod.host().name
    out = []
    for a in p.artifacts:
        try:
            tags = parse_wheel_filename(wheel_name(a.url))[3]
        except InvalidWheelFilename:
            continue
        if wheel_fits(tags, host):
            out.append(a)
    return out
