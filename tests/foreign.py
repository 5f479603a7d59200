"""Run what a cross build produced: aarch64 Linux programs under qemu-user, Windows programs
under Wine 8, wasm modules under wasmtime. Each helper says why it cannot run, so a test can
skip with the reason printed instead of passing without running anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

QEMU = "qemu-aarch64-static"
AARCH64_SYSROOT = "/usr/aarch64-linux-gnu"  # Debian's libc6-arm64-cross
WINE = "/usr/lib/wine/wine64"  # Debian's wine64 (Wine 8)
MINGW = "x86_64-w64-mingw32-gcc"

# Rust >= 1.78 and Go >= 1.22 import ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks.
# This stand-in (RtlGenRandom underneath) is built by the tests themselves with mingw-w64 and
# put in the prefix's system32, where Go looks for it.
_PRNG_C = r"""
#include <windows.h>
#include <ntsecapi.h>
BOOL WINAPI ProcessPrng(PBYTE p, SIZE_T n) {
    while (n) {
        ULONG k = n > 0x10000000 ? 0x10000000 : (ULONG)n;
        if (!RtlGenRandom(p, k)) return FALSE;
        p += k; n -= k;
    }
    return TRUE;
}
"""
_PRNG_DEF = "LIBRARY bcryptprimitives\nEXPORTS\n    ProcessPrng\n"


def qemu_missing() -> str:
    if not shutil.which(QEMU):
        return f"{QEMU} is not installed (Debian: apt-get install qemu-user-static)"
    if not os.path.isfile(os.path.join(AARCH64_SYSROOT, "lib", "ld-linux-aarch64.so.1")):
        return f"aarch64 glibc is not in {AARCH64_SYSROOT} (Debian: apt-get install libc6-arm64-cross)"
    return ""


def run_aarch64(exe: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([QEMU, "-L", AARCH64_SYSROOT, str(exe), *args], capture_output=True, text=True, timeout=timeout)


def wine_missing() -> str:
    if not os.access(WINE, os.X_OK):
        return f"{WINE} is not installed (Debian: apt-get install wine64)"
    if not shutil.which(MINGW):
        return f"{MINGW} is not installed to build the ProcessPrng stand-in (apt-get install gcc-mingw-w64-x86-64)"
    return ""


def wine_prefix(base: Path) -> Path:
    """A fresh Wine prefix in `base` with the ProcessPrng stand-in in system32."""
    prefix = base / "wineprefix"
    env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}
    subprocess.run([WINE, "wineboot", "-i"], env=env, capture_output=True, timeout=300, check=True)
    src = base / "prng"
    src.mkdir(exist_ok=True)
    (src / "prng.c").write_text(_PRNG_C)
    (src / "prng.def").write_text(_PRNG_DEF)
    dll = prefix / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll"
    subprocess.run([MINGW, "-shared", "-O2", "-o", str(dll), str(src / "prng.c"), str(src / "prng.def"), "-ladvapi32"],
                   check=True, capture_output=True, timeout=120)
    return prefix


def run_windows(prefix: Path, exe: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all"}
    p = subprocess.run([WINE, str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env)
    # Windows programs write CRLF line ends.
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.replace("\r\n", "\n"), p.stderr)
