"""Platforms to build for, defined once and translated into each toolchain's spelling; and
the one place that knows which platform this machine is."""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A platform: `name` is ppm's spelling; the other fields are each toolchain's."""

    name: str
    os: str  # linux, windows, macos, wasi
    arch: str  # x86_64, aarch64, wasm32
    rust_triple: str
    zig_triple: str
    goos: str
    goarch: str
    esbuild_platform: str  # node, browser, neutral
    # What no toolchain on a machine of another platform can supply; "" when cross builds
    # work from any machine (macOS needs Apple's SDK, which cannot be downloaded freely).
    needs_native: str = ""
    exe_suffix: str = ""
    shared_lib_prefix: str = "lib"
    shared_lib_suffix: str = ".so"

    def shared_lib(self, stem: str) -> str:
        """The file name a shared library called `stem` has on this target."""
        return f"{self.shared_lib_prefix}{stem}{self.shared_lib_suffix}"

    def executable(self, stem: str) -> str:
        return f"{stem}{self.exe_suffix}"

    def static_lib(self, stem: str) -> str:
        """A static library's file name: lib<stem>.a everywhere but wasm (the GNU spelling,
        which rustc, zig and mingw all use for windows-gnu too)."""
        return f"lib{stem}.a"


# The oldest glibc a Linux bundle may need: zig links against this version's symbols, so
# bundles run on distributions as old as CentOS 7 / Debian 8. Raise it only with a reason.
GLIBC_FLOOR = "2.17"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("linux-x86_64", "linux", "x86_64", "x86_64-unknown-linux-gnu", f"x86_64-linux-gnu.{GLIBC_FLOOR}",
               "linux", "amd64", "browser"),
        Target("linux-aarch64", "linux", "aarch64", "aarch64-unknown-linux-gnu", f"aarch64-linux-gnu.{GLIBC_FLOOR}",
               "linux", "arm64", "browser"),
        # The GNU ABI (mingw-w64): the MSVC one needs Microsoft's SDK, which no Linux machine has.
        Target("windows-x86_64", "windows", "x86_64", "x86_64-pc-windows-gnu", "x86_64-windows-gnu", "windows", "amd64",
               "browser", exe_suffix=".exe", shared_lib_prefix="", shared_lib_suffix=".dll"),
        Target("macos-arm64", "macos", "aarch64", "aarch64-apple-darwin", "aarch64-macos", "darwin", "arm64", "browser",
               shared_lib_suffix=".dylib",
               needs_native="Apple's macOS SDK (Xcode or its Command Line Tools), which only a Mac can provide"),
        Target("wasm32-wasi", "wasi", "wasm32", "wasm32-wasip1", "wasm32-wasi", "wasip1", "wasm", "neutral",
               exe_suffix=".wasm", shared_lib_prefix="", shared_lib_suffix=".wasm"),
    )
}

# platform.system() / uname sysname -> ppm's OS; platform.machine() / uname machine -> ppm's arch.
_OS = {"linux": "linux", "darwin": "macos", "windows": "windows"}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def platform_name(system: str, machine: str) -> str:
    """ppm's name for a platform, from what platform.system() and platform.machine() say there:
    ("Linux", "x86_64") -> "linux-x86_64", ("Darwin", "arm64") -> "macos-arm64", ("Windows",
    "AMD64") -> "windows-x86_64". Also for platforms that are not build targets (macos-x86_64
    has toolchain pins but is not a target)."""
    os_name = _OS.get(system.lower(), system.lower())
    arch = _ARCH.get(machine.lower(), machine.lower())
    if os_name == "macos" and arch == "aarch64":
        arch = "arm64"  # Apple's spelling, the one TARGETS uses
    return f"{os_name}-{arch}"


@functools.cache
def host_platform() -> str:
    """ppm's name for the machine ppm runs on (see platform_name)."""
    return platform_name(platform.system(), platform.machine())


def host() -> Target:
    """The target of the machine ppm runs on."""
    name = host_platform()
    try:
        return TARGETS[name]
    except KeyError:
        raise LookupError(f"this machine ({name}) is not a known target; known: {', '.join(sorted(TARGETS))}") from None


def get(name: str) -> Target:
    """The target called `name`; `host` means this machine."""
    if name == "host":
        return host()
    try:
        return TARGETS[name]
    except KeyError:
        raise LookupError(f"unknown target {name!r}; known: host, {', '.join(sorted(TARGETS))}") from None
