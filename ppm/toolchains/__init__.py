"""Toolchains: turn a tool's name into an executable, its version, and an identity for action keys.

Two kinds:
  provisioned  zig (PyPI `ziglang`), esbuild (npm `@esbuild/<platform>`), PyInstaller (PyPI), each
               at a pinned version and digest (pins.py), downloaded once into the toolchains
               directory and verified before use (provisioning.py);
  found        cargo, cc, javac, native-image, go, mingw-w64, wasm-ld and a Rust with its library
               sources (cargo-build-std), looked up on the machine (probe.py). Those a cross
               build uses (FOUND_RECORDED) are recorded in the lock by what identifies them
               (Toolchain.parts), and a build refuses one that differs from the lock's record.

This module is the public face: `from ppm import toolchains; toolchains.resolve([...])`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ppm.core.errors import ToolchainError
from ppm.core.paths import cache_dir, toolchains_dir
from ppm.targets import host_platform
from ppm.toolchains.base import Report, Toolchain
from ppm.toolchains.pins import (
    FOUND_BY_PART,
    FOUND_RECORDED,
    PINS,
    PROVISIONED,
    Artifact,
    FoundRecord,
    LockedPins,
    Pin,
    pin_for,
)
from ppm.toolchains.probe import FINDERS, ProbeCache
from ppm.toolchains.provisioning import (
    install_dir,
    installed,
    offline,
    provision,
    provisioned,
)

KNOWN = ("cargo", "cc", "zig", "esbuild", "pyinstaller", "native-image", "javac", "go", "cargo-build-std", "mingw", "nuitka",
         "wasm-ld", "rust-std")

__all__ = [
    "FOUND_RECORDED", "KNOWN", "PINS", "PROVISIONED", "Artifact", "FoundRecord", "LockedPins", "Pin", "Report",
    "Toolchain", "cache_dir", "check_found", "host_platform", "list_all", "offline", "pin_for", "provision",
    "provisionable", "resolve",
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

    `pins` replaces the pinned build of provisioned toolchains (the lock, or tests, pass it); when
    it is the lock's LockedPins, each found toolchain the lock records is checked against it.
    Raises ToolchainError for an unknown name or a failed download; a tool that is merely
    absent comes back with usable=False and a note saying what to do.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ToolchainError(f"unknown toolchain {', '.join(map(repr, unknown))}; ppm knows {', '.join(KNOWN)}")
    probes = ProbeCache(toolchains_dir() / "probes.json")
    records = pins.found if isinstance(pins, LockedPins) else {}
    out: dict[str, Toolchain] = {}
    for name in names:
        if name in PROVISIONED:
            pin = (pins or {}).get(name) or pin_for(name)
            out[name] = provisioned(name, pin, download=provision, report=report)
        else:
            out[name] = FINDERS[name](probes)
            if name in records:
                out[name] = check_found(out[name], records[name])
    probes.save()
    return out


def check_found(tc: Toolchain, rec: FoundRecord) -> Toolchain:
    """`tc` as found, or made unusable with a note saying how it differs from the lock's record
    (which toolchain, locked vs found, and the two ways out)."""
    debs = [label.removeprefix("deb:") for label, _, _ in rec.parts if label.startswith("deb:")]
    install = f" (Debian: `apt-get install {' '.join(debs)}`)" if debs else ""
    if not tc.usable:
        return replace(tc, note=f"{tc.note}; ppm.lock records {tc.name} {rec.version} for {rec.platform}{install}")
    want = {(label, h) for label, h, _ in rec.parts}
    have = {(label, h) for label, h, _ in tc.parts}
    if tc.name in FOUND_BY_PART:  # only the parts both have: see FOUND_BY_PART
        both = {label for label, _ in want} & {label for label, _ in have}
        want = {p for p in want if p[0] in both}
        have = {p for p in have if p[0] in both}
    if want == have:
        return tc

    def show(items: set[tuple[str, str]]) -> str:
        return ", ".join(f"{label} {h[:15]}…" for label, h in sorted(items)) or "nothing else"

    note = (f"the {tc.name} found here is not the one ppm.lock records for {rec.platform}: locked {rec.version} "
            f"({show(want - have)}), found {tc.version} ({show(have - want)}); install the locked one{install}, or run "
            f"`ppm lock --upgrade-package toolchain:{tc.name}` to record the one found here")
    differ = ",".join(sorted({label for label, _ in want ^ have}))
    return replace(tc, usable=False, note=note, info={**tc.info, "lock-mismatch": "1", "differ": differ})


def list_all(*, provision: bool = False) -> list[Toolchain]:
    """Every known toolchain, in KNOWN order, for `ppm toolchain list`."""
    found = resolve(KNOWN, provision=provision)
    return [found[n] for n in KNOWN]
