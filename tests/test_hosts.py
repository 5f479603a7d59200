"""The Rust host and C host templates, built with the real toolchains and run: each for this
machine and one foreign target (the Rust host for windows-x86_64 under Wine, the C host for
linux-aarch64 under qemu). Slow: Rust's std for Windows is built from source (about 1 min),
zig builds the target's C runtime once (about 1 min)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import foreign
import pytest

from helpers import run_ppm

pytestmark = pytest.mark.slow


def _project(tmp: Path, template: str, tools: list[str]) -> tuple[Path, dict[str, str]]:
    from ppm import toolchains
    from ppm.core.paths import toolchains_dir

    tcs = toolchains.resolve(tools, provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("toolchains missing (.ci/needs-cross.sh, `ppm toolchain list --provision`): " + "; ".join(missing))
    env = {"PPM_CACHE_DIR": str(tmp / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1"}
    run_ppm("init", "h", "--template", template, cwd=tmp, env=env)
    return tmp / "h", env


def _check(stdout: str, want: list[str]) -> None:
    lines = stdout.replace("\r\n", "\n").splitlines()
    for w in want:
        assert w in lines, stdout
    assert any(line.startswith("typescript: ui bundle ") and "(index.html, ui.js, ui.css)" in line for line in lines), stdout


def test_rust_host(tmp_path: Path) -> None:
    root, env = _project(tmp_path, "rusthost", ["cargo", "cargo-build-std", "mingw", "zig", "cc", "esbuild"])
    s = json.loads(run_ppm("build", "--json", "--target", "host", "--target", "windows-x86_64", cwd=root, env=env,
                           timeout=1800).stdout)
    assert set(s["bundles"]) == {"linux-x86_64", "windows-x86_64"}
    p = subprocess.run(["env", "-i", str(root / "dist/linux-x86_64/h")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    _check(p.stdout, ["rust: fibonacci(20) = 6765 (linux/x86_64)", "c: gcd(1071, 462) = 21, primes up to 100 = 25"])
    why = foreign.wine_missing()
    if why:
        pytest.skip(f"windows-x86_64 bundle built, not run: {why}")
    prefix = foreign.wine_prefix(tmp_path)
    p = foreign.run_windows(prefix, root / "dist/windows-x86_64/h.exe")
    assert p.returncode == 0, p.stdout + p.stderr
    _check(p.stdout, ["rust: fibonacci(20) = 6765 (windows/x86_64)", "c: gcd(1071, 462) = 21, primes up to 100 = 25"])
    assert foreign.run_windows(prefix, root / "dist/windows-x86_64/h.exe", "--self-check").returncode == 0


def test_c_host(tmp_path: Path) -> None:
    root, env = _project(tmp_path, "chost", ["zig", "esbuild"])
    s = json.loads(run_ppm("build", "--json", "--target", "host", "--target", "linux-aarch64", cwd=root, env=env,
                           timeout=1800).stdout)
    assert set(s["bundles"]) == {"linux-x86_64", "linux-aarch64"}
    p = subprocess.run(["env", "-i", str(root / "dist/linux-x86_64/h")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    _check(p.stdout, ["c: C2023 host (linux/x86_64)", "zig: sum_of_squares(10) = 385"])
    why = foreign.qemu_missing()
    if why:
        pytest.skip(f"linux-aarch64 bundle built, not run: {why}")
    p = foreign.run_aarch64(root / "dist/linux-aarch64/h")
    assert p.returncode == 0, p.stdout + p.stderr
    _check(p.stdout, ["c: C2023 host (linux/aarch64)", "zig: sum_of_squares(10) = 385"])
    assert foreign.run_aarch64(root / "dist/linux-aarch64/h", "--self-check").returncode == 0
