"""Toolchains: turn a tool's name into an executable, its version, and an identity for action keys.

Two kinds:
  provisioned  zig (PyPI `ziglang`), esbuild (npm `@esbuild/<platform>`), PyInstaller (PyPI), each
               at a pinned version and digest (pins.py), downloaded once into the toolchains
               directory and verified before use (provisioning.py);
  found        cargo, cc, javac, native-image, looked up on the machine (probe.py).

This module is the public face: `from ppm import toolchains; toolchains.resolve([...])`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ppm.core.errors import ToolchainError
from ppm.core.paths import cache_dir, toolchains_dir
from ppm.targets import host_platform
from ppm.toolchains.base import Report, Toolchain
from ppm.toolchains.pins import PINS, PROVISIONED, Artifact, Pin, pin_for
from ppm.toolchains.probe import FINDERS, ProbeCache
from ppm.toolchains.provisioning import (
    install_dir,
    installed,
    offline,
    provision,
    provisioned,
)

KNOWN = ("cargo", "cc", "zig", "esbuild", "pyinstaller", "native-image", "javac", "go", "cargo-build-std", "mingw", "nuitka",
         "wasm-ld")

__all__ = [
    "KNOWN", "PINS", "PROVISIONED", "Artifact", "Pin", "Report", "Toolchain", "cache_dir", "host_platform",
    "list_all", "offline", "pin_for", "provision", "provisionable", "resolve",
]


def provisionable(name: str, *, pins: Mapping[str, Pin] | None = None) -> bool:
    """True when ppm can download `name` itself (pinned for this platform and not offline)."""
    pin = (pins or {}).get(name) or pin_for(name)
    return name in PROVISIONED and pin is not None and (not offline() or installed(install_dir(pin), pin))


def resolve(
    names: Iterable[str],
    *,
    provision: bool = True,
    report: Report | None = None,
    pins: Mapping[str, Pin] | None = None,
) -> dict[str, Toolchain]:
    """Each named toolchain, provisioned if needed (and allowed) or probed on the machine.

    `pins` replaces the pinned build of provisioned toolchains (the lock, or tests, pass it).
    Raises ToolchainError for an unknown name or a failed download; a tool that is merely
    absent comes back with usable=False and a note saying what to do.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ToolchainError(f"unknown toolchain {', '.join(map(repr, unknown))}; ppm knows {', '.join(KNOWN)}")
    probes = ProbeCache(toolchains_dir() / "probes.json")
    out: dict[str, Toolchain] = {}
    for name in names:
        if name in PROVISIONED:
            pin = (pins or {}).get(name) or pin_for(name)
            out[name] = provisioned(name, pin, download=provision, report=report)
        else:
            out[name] = FINDERS[name](probes)
    probes.save()
    return out


def list_all(*, provision: bool = False) -> list[Toolchain]:
    """Every known toolchain, in KNOWN order, for `ppm toolchain list`."""
    found = resolve(KNOWN, provision=provision)
    return [found[n] for n in KNOWN]
