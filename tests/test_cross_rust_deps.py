"""A Rust crate with crates.io dependencies locked in ppm.lock, built for a target whose std
comes from Rust's sources (-Zbuild-std): std's own crates (vendored with the sources) and the
crate's (vendored by `ppm sync` from a registry speaking crates.io's protocol on 127.0.0.1)
both replace crates.io, joined into one directory source. The executable runs under qemu.

Slow: std is built from source for aarch64 (1-4 minutes on 2 busy cores)."""

from __future__ import annotations

import os
from pathlib import Path

import foreign
import pytest

from helpers import run_ppm
from ppm import toolchains
from ppm.core.paths import toolchains_dir
from registry_server import RegistryServer, cargo_crate

pytestmark = pytest.mark.slow

MANIFEST = """\
[project]
name = "rd"
entry = "hello"
targets = ["host", "linux-aarch64"]

[components.hello]
builder = "cargo"
path = "hello"
crate_type = "bin"

[components.hello.dependencies.cargo]
answer = "1"
"""


def test_build_std_with_locked_crates(tmp_path: Path) -> None:
    tcs = toolchains.resolve(["cargo", "cargo-build-std", "zig"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("; ".join(missing))
    if os.path.isdir(os.path.join(tcs["cargo"].info.get("sysroot", "/nonexistent"), "lib/rustlib/aarch64-unknown-linux-gnu")):
        pytest.skip("rustup has aarch64's std here: build-std is not used")
    if "PPM_RUST_SRC_VENDOR" not in tcs["cargo-build-std"].env:
        pytest.skip("Rust's library sources here hold no vendor/ (std's crates cannot be had offline)")
    reg = tmp_path / "reg"
    cargo_crate(reg, "answer", [{"vers": "1.0.0"}, {"vers": "1.2.0"}],
                lib_rs="pub fn answer() -> u32 { 42 }\n")
    root = tmp_path / "rd"
    (root / "hello/src").mkdir(parents=True)
    (root / "ppm.toml").write_text(MANIFEST)
    (root / "hello/Cargo.toml").write_text('[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    (root / "hello/src/main.rs").write_text('fn main() { println!("the answer is {}", answer::answer()); }\n')
    with RegistryServer(reg) as srv:
        env = {**srv.env(), "PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()),
               "PPM_OFFLINE": "0"}
        run_ppm("lock", cwd=root, env=env)
        p = run_ppm("build", "--target", "linux-aarch64", cwd=root, env=env, timeout=1800, check=False)
    assert p.returncode == 0, p.stderr[-4000:]
    exe = root / "dist/linux-aarch64/hello"
    assert exe.read_bytes()[18] == 0xB7  # e_machine = EM_AARCH64
    # std's crates and the locked one, joined: links into both vendor directories
    joined = root / ".ppm/incremental/linux-aarch64/hello/cargo-sources"
    names = {p.name for p in joined.iterdir()}
    assert "answer-1.2.0" in names and any(n.startswith("hashbrown-") for n in names), names
    why = foreign.qemu_missing()
    if why:
        pytest.skip(f"built; not run: {why}")
    out = foreign.run_aarch64(exe)
    assert out.returncode == 0 and out.stdout == "the answer is 42\n", out.stdout + out.stderr
