"""Per-target root requirements in each ecosystem's own words (issue 8): PEP 508 markers, cargo's
cfg(...), npm's os/cpu, and `targets = [...]` for any ecosystem; `ppm add` accepts them, the lock
records which targets reach each package, and sync leaves out what this machine's target does not
need. Run through a real `ppm` process against the local registry server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from helpers import run_ppm
from ppm.lockfile import conditions, model
from ppm.lockfile.errors import LockError
from ppm.lockfile.request import parse_spec
from registry_server import (
    RegistryServer,
    cargo_crate,
    maven_artifact,
    npm_package,
    pom,
    pypi_project,
)

MANIFEST = """\
[project]
name = "two"
targets = ["linux-x86_64", "windows-x86_64"]

[components.core]
builder = "cargo"

[dependencies.pypi]
click = ">=8"
"""


@pytest.fixture
def project(tmp_path: Path):
    reg = tmp_path / "reg"
    # the case: pywin32 has Windows wheels only
    pypi_project(reg, "pywin32", {"306": {"wheels": ["cp311-cp311-win_amd64"]}})
    # a transitive marker to a Windows-only wheel: reached on Windows alone
    pypi_project(reg, "click", {"8.1.7": {"requires": ["colorama; platform_system == 'Windows'"]}})
    pypi_project(reg, "colorama", {"0.4.6": {"wheels": ["cp311-cp311-win_amd64"]}})
    cargo_crate(reg, "windows-sys", [{"vers": "0.52.0"}])
    cargo_crate(reg, "libc", [{"vers": "0.2.150"}])
    npm_package(reg, "fsevents", {"2.3.3": {}})
    maven_artifact(reg, "org.win", "jna-win", {"5.14.0": pom("org.win", "jna-win", "5.14.0")})
    proj = tmp_path / "proj"
    (proj / "core/src").mkdir(parents=True)
    (proj / "core/Cargo.toml").write_text('[package]\nname = "core"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                         '[lib]\npath = "src/lib.rs"\n')
    (proj / "core/src/lib.rs").write_text("")
    (proj / "ppm.toml").write_text(MANIFEST)
    with RegistryServer(reg) as srv:
        env = {**srv.env(), "PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_HTTP_RETRIES": "0"}
        yield proj, env


def test_per_target_roots_end_to_end(project):
    proj, env = project
    r = run_ppm("add", "pypi:pywin32>=306; sys_platform == 'win32'", cwd=proj, env=env)
    assert "only where sys_platform == \"win32\"" in r.stdout
    run_ppm("add", "cargo:windows-sys@0.52; cfg(windows)", "--to", "core", cwd=proj, env=env)
    run_ppm("add", "cargo:libc@0.2", "--targets", "linux-x86_64", "--to", "core", cwd=proj, env=env)
    run_ppm("add", "maven:org.win:jna-win@5.14.0", "--targets", "windows-x86_64", cwd=proj, env=env)
    run_ppm("add", "npm:fsevents@^2", "--os", "darwin", cwd=proj, env=env, check=False)  # no darwin target: refused
    text = (proj / "ppm.toml").read_text()
    assert 'pywin32 = {version = ">=306", markers = "sys_platform == \\"win32\\""}' in text
    assert 'windows-sys = {version = "0.52", target = "cfg(windows)"}' in text
    assert 'libc = {version = "0.2", targets = ["linux-x86_64"]}' in text and "fsevents" not in text
    lk = model.read(proj / "ppm.lock")
    assert lk.packages["pypi:pywin32@306"].targets == ["windows-x86_64"]
    assert lk.packages["pypi:colorama@0.4.6"].targets == ["windows-x86_64"]
    assert lk.packages["pypi:click@8.1.7"].targets == []  # every target
    assert lk.packages["cargo:windows-sys@0.52.0"].targets == ["windows-x86_64"]
    assert lk.packages["cargo:libc@0.2.150"].targets == ["linux-x86_64"]
    assert lk.packages["maven:org.win:jna-win@5.14.0"].targets == ["windows-x86_64"]
    assert 'targets = ["windows-x86_64"]' in (proj / "ppm.lock").read_text()
    run_ppm("lock", "--check", cwd=proj, env=env)
    # sync: cargo compiles per target from its own tables (Cargo.lock keeps both crates)
    run_ppm("sync", cwd=proj, env=env)
    cargo_toml = tomllib.loads((proj / "core/Cargo.toml").read_text())
    assert cargo_toml["target"] == {"cfg(windows)": {"dependencies": {"windows-sys": "0.52"}},
                                    'cfg(all(target_os = "linux", target_arch = "x86_64"))': {"dependencies": {"libc": "0.2"}}}
    assert "windows-sys" not in cargo_toml["dependencies"] and "libc" not in cargo_toml["dependencies"]
    assert "windows-sys" in (proj / "core/Cargo.lock").read_text()
    if shutil.which("cargo"):  # cargo itself accepts the target tables against ppm's Cargo.lock, offline
        from ppm.lockfile import sync

        args = [a.replace("{project}", str(proj)) for a in sync.cargo_args(proj, "core")]
        out = subprocess.run(["cargo", "metadata", "--locked", "--format-version", "1", *args], cwd=proj / "core",
                             capture_output=True, text=True, env={**os.environ, "CARGO_HOME": str(proj.parent / "cargo-home")})
        assert out.returncode == 0, out.stderr
        assert {p["name"] for p in json.loads(out.stdout)["packages"]} == {"core", "libc", "windows-sys"}
    # the exported pip files say where pywin32 belongs, in PEP 508 words
    req = (proj / ".ppm/sync/project/pypi/requirements-locked.txt")
    req = req if req.is_file() else next(proj.rglob("requirements-locked.txt"))
    assert "pywin32==306 ; (sys_platform == 'win32' and platform_machine == 'AMD64')" in req.read_text()
    if sys.platform == "linux":
        # this machine builds linux-x86_64: neither Windows wheel nor the Windows jar is fetched
        site = proj / ".ppm/vendor/pypi"
        assert not list(site.rglob("pywin32*")) and not list(site.rglob("colorama*"))
        assert not list((proj / ".ppm/vendor").rglob("jna-win*"))


def test_conditions_in_each_ecosystems_words():
    assert conditions.cfg_matches("cfg(windows)", "windows-x86_64") and not conditions.cfg_matches("cfg(windows)", "linux-x86_64")
    assert conditions.cfg_matches('cfg(all(unix, not(target_os = "macos")))', "linux-aarch64")
    assert not conditions.cfg_matches('cfg(all(unix, not(target_os = "macos")))', "macos-arm64")
    assert conditions.cfg_matches('cfg(any(target_arch = "wasm32", target_family = "windows"))', "wasm32-wasi")
    assert conditions.cfg_matches("x86_64-pc-windows-msvc", "windows-x86_64")
    assert conditions.npm_matches(["!win32"], "linux") and not conditions.npm_matches(["darwin"], "linux")
    both = 'cfg(all(all(target_os = "linux", target_arch = "x86_64"), unix))'
    assert conditions.cargo_cfg("cfg(unix)", ("linux-x86_64",)) == both
    r = parse_spec("pypi", "pywin32", {"version": ">=306", "markers": "sys_platform == 'win32'", "targets": ["windows-x86_64"]})
    assert r.targets_in(["linux-x86_64", "windows-x86_64"]) == ["windows-x86_64"]
    with pytest.raises(LockError, match=r"cargo:x: cannot read the condition 'cfg\(windows'"):
        parse_spec("cargo", "x", {"version": "1", "target": "cfg(windows"})
    with pytest.raises(LockError, match="`os` is not a condition cargo knows"):
        parse_spec("cargo", "x", {"version": "1", "os": ["linux"]})
    with pytest.raises(LockError, match="unknown target 'windows'"):
        parse_spec("go", "x", {"version": "v1.0.0", "targets": ["windows"]})


def test_bad_condition_is_refused_by_a_real_process(project):
    proj, env = project
    before = (proj / "ppm.toml").read_text()
    r = run_ppm("add", "cargo:libc@0.2; cfg(unix", "--to", "core", cwd=proj, env=env, check=False)
    assert r.returncode != 0 and "cargo:libc" in r.stderr + r.stdout and "cfg(unix" in r.stderr + r.stdout
    r = run_ppm("add", "go:example.com/x@v1.0.0", "--targets", "plan9", cwd=proj, env=env, check=False)
    assert r.returncode != 0 and "unknown target 'plan9'" in r.stderr + r.stdout
    assert (proj / "ppm.toml").read_text() == before
