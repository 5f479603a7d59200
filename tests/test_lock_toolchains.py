"""Found toolchains in the lock: the tools a cross build finds on the machine (go, a Rust with its
library sources for -Zbuild-std, mingw-w64, wasm-ld) are recorded by `ppm lock` by what
identifies them (content digests, Debian packages), and a build on a machine whose tool differs
says which, locked vs found, and what to do. The lock is untrusted: its toolchain entries are
checked where they are read.

The real tools are probed (go, Debian's rustc-web/cargo-web/rust-web-src); "another machine's"
tool is a record written as that machine's `ppm lock` would (same code, other digests), since
this machine has one go and one rust-web-src."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from helpers import run_ppm
from ppm import toolchains
from ppm.lockfile import model
from ppm.lockfile import toolchains as locked
from ppm.lockfile.errors import LockError
from ppm.toolchains import FoundRecord, Toolchain, check_found
from ppm.toolchains.probe import _tree_part

GO_PROJECT = """\
[project]
name = "g"
entry = "app"
targets = ["host", "windows-x86_64"]

[components.app]
builder = "go"
exe = "g"
"""

RUST_PROJECT = """\
[project]
name = "r"
entry = "core"
targets = ["host", "linux-aarch64"]

[components.core]
builder = "cargo"
path = "core"
crate_type = "staticlib"
"""


def _usable(name: str) -> Toolchain:
    tc = toolchains.resolve([name], provision=False)[name]
    if not tc.usable:
        pytest.skip(f"{name} is not here: {tc.note}")
    return tc


def _go_project(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "ppm.toml").write_text(GO_PROJECT)
    (root / "app/go.mod").write_text("module example.com/g\n\ngo 1.22\n")
    (root / "app/main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    return root


def _as_if_recorded_elsewhere(root: Path, name: str, version: str, parts: list[tuple[str, str, int]]) -> None:
    """Rewrite this platform's record of `name` as another machine's `ppm lock` would have written it."""
    lk = model.read(root / model.LOCK)
    here = toolchains.host_platform()
    plats = dict(lk.toolchains[name].platforms)
    plats[here] = {"kind": "found", "version": version,
                   "artifacts": [{"path": p, "hash": h, "size": s} for p, h, s in parts]}
    lk.toolchains[name] = locked.from_found(name, plats)
    model.write(root / model.LOCK, lk)


def test_go_is_recorded_checked_and_rerecorded(tmp_path: Path, ppm_cache: Path) -> None:
    go = _usable("go")
    root = _go_project(tmp_path / "g")
    run_ppm("lock", cwd=root)
    text = (root / "ppm.lock").read_text()
    here = toolchains.host_platform()
    lk = model.read(root / "ppm.lock")
    rec = lk.toolchains["go"]
    assert rec.platforms[here]["kind"] == "found" and rec.version == go.version
    binary = os.path.realpath(go.argv[0])
    want = "sha256:" + hashlib.sha256(Path(binary).read_bytes()).hexdigest()
    assert {"path": "bin/go", "hash": want, "size": os.path.getsize(binary)} in rec.platforms[here]["artifacts"]
    assert str(tmp_path) not in text and "/usr" not in text  # no machine paths
    # Deterministic: recording again writes the same text; --check never records (machine-free).
    run_ppm("lock", "--upgrade-package", "toolchain:go", cwd=root)
    assert (root / "ppm.lock").read_text() == text
    assert run_ppm("lock", "--check", cwd=root).returncode == 0

    run_ppm("build", "--target", "host", cwd=root)

    # The lock was written on a machine with another go: this build refuses, and says how to fix it.
    _as_if_recorded_elsewhere(root, "go", "1.25.3", [("bin/go", "sha256:" + "0" * 64, 15000000)])
    assert run_ppm("lock", "--check", cwd=root).returncode == 0  # the lock itself is consistent
    p = run_ppm("build", "--target", "host", cwd=root, check=False)
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())
    assert f"the go found here is not the one ppm.lock records for {here}" in err, err
    assert f"locked 1.25.3 (bin/go sha256:00000000…), found {go.version} (bin/go {want[:15]}…)" in err, err
    assert "install the locked one, or run `ppm lock --upgrade-package toolchain:go`" in err, err

    run_ppm("lock", "--upgrade-package", "toolchain:go", cwd=root)
    assert (root / "ppm.lock").read_text() == text
    run_ppm("build", "--target", "host", cwd=root)


def test_other_platforms_records_are_kept(tmp_path: Path, ppm_cache: Path) -> None:
    _usable("go")
    root = _go_project(tmp_path / "g")
    run_ppm("lock", cwd=root)
    lk = model.read(root / "ppm.lock")
    plats = dict(lk.toolchains["go"].platforms)
    plats["linux-aarch64"] = {"kind": "found", "version": "1.26.8",
                              "artifacts": [{"path": "bin/go", "hash": "sha256:" + "a" * 64, "size": 1}]}
    lk.toolchains["go"] = locked.from_found("go", plats)
    model.write(root / "ppm.lock", lk)
    text = (root / "ppm.lock").read_text()
    run_ppm("lock", "--upgrade-package", "toolchain:go", cwd=root)  # re-records this platform only
    assert (root / "ppm.lock").read_text() == text
    run_ppm("build", "--target", "host", cwd=root)  # another platform's record is not this machine's business


def test_build_std_rust_is_recorded_with_its_sources_and_debian_packages(tmp_path: Path, ppm_cache: Path) -> None:
    tc = _usable("cargo-build-std")
    labels = {label for label, _, _ in tc.parts}
    assert {"bin/cargo", "bin/rustc", "lib/rustlib/src/rust/library"} <= labels
    if shutil.which("dpkg-query") and os.path.realpath(tc.env["RUSTC"]).startswith("/usr/"):
        assert any(label.startswith("deb:rust-web-src=") or label.startswith("deb:rust-src=") for label in labels), labels
    root = tmp_path / "r"
    (root / "core/src").mkdir(parents=True)
    (root / "ppm.toml").write_text(RUST_PROJECT)
    (root / "core/Cargo.toml").write_text('[package]\nname = "core"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                          '[lib]\nname = "rcore"\ncrate-type = ["staticlib"]\n')
    (root / "core/Cargo.lock").write_text('version = 4\n\n[[package]]\nname = "core"\nversion = "0.1.0"\n')
    (root / "core/src/lib.rs").write_text("#[no_mangle]\npub extern \"C\" fn answer() -> i32 { 42 }\n")
    run_ppm("lock", cwd=root)
    here = toolchains.host_platform()
    entry = model.read(root / "ppm.lock").toolchains["cargo-build-std"].platforms[here]
    assert {a["path"] for a in entry["artifacts"]} == labels
    cargo = toolchains.resolve(["cargo"], provision=False)["cargo"]
    if os.path.isdir(os.path.join(cargo.info.get("sysroot", "/nonexistent"), "lib/rustlib/aarch64-unknown-linux-gnu")):
        pytest.skip("rustup has aarch64's std here: build-std is not used")
    # Sources of another release recorded: the aarch64 build (std from source) is refused at planning.
    debs = [(label, h, s) for label, h, s in tc.parts if label.startswith("deb:")]
    other = [("bin/cargo", "sha256:" + "1" * 64, 1), ("bin/rustc", "sha256:" + "2" * 64, 1),
             ("lib/rustlib/src/rust/library", "sha256:" + "3" * 64, 1),
             *((label.split("=")[0] + "=1.90.0+dfsg1-1", "sha256:" + "4" * 64, 1) for label, _, _ in debs)]
    _as_if_recorded_elsewhere(root, "cargo-build-std", "1.90.0", other)
    p = run_ppm("build", "--target", "linux-aarch64", cwd=root, check=False)
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())
    assert "component 'core': building Rust for aarch64-unknown-linux-gnu needs cargo-build-std, but the cargo-build-std " \
           f"found here is not the one ppm.lock records for {here}: locked 1.90.0 (" in err, err
    assert "lib/rustlib/src/rust/library sha256:33333333…" in err, err
    if debs:
        assert "apt-get install " in err and "=1.90.0+dfsg1-1" in err, err


def test_check_found_names_the_difference_and_both_fixes() -> None:
    parts = (("bin/x86_64-w64-mingw32-gcc", "sha256:" + "a" * 64, 10), ("deb:mingw-w64-x86-64-dev=10.0.0-3", "sha256:" + "b" * 64, 5))
    tc = Toolchain("mingw", "12-win32", "found", ["/usr/bin/x86_64-w64-mingw32-gcc"], {}, "id", True, parts=parts)
    same = FoundRecord("mingw", "linux-x86_64", "12-win32", parts)
    assert check_found(tc, same) is tc
    other = FoundRecord("mingw", "linux-x86_64", "13-win32", (parts[0], ("deb:mingw-w64-x86-64-dev=11.0.1-2", "sha256:" + "c" * 64, 5)))
    bad = check_found(tc, other)
    assert not bad.usable and bad.info["lock-mismatch"] == "1"
    assert ("locked 13-win32 (deb:mingw-w64-x86-64-dev=11.0.1-2 sha256:cccccccc…), found 12-win32 "
            "(deb:mingw-w64-x86-64-dev=10.0.0-3 sha256:bbbbbbbb…)") in bad.note
    assert "(Debian: `apt-get install mingw-w64-x86-64-dev=11.0.1-2`)" in bad.note
    assert "`ppm lock --upgrade-package toolchain:mingw`" in bad.note
    absent = Toolchain("mingw", "", "", [], {}, "", False, "not found: install mingw-w64")
    assert check_found(absent, other).note == ("not found: install mingw-w64; ppm.lock records mingw 13-win32 for "
                                               "linux-x86_64 (Debian: `apt-get install mingw-w64-x86-64-dev=11.0.1-2`)")


def test_tree_digest_follows_content_not_times(tmp_path: Path) -> None:
    tree = tmp_path / "lib"
    (tree / "std/src").mkdir(parents=True)
    (tree / "std/src/lib.rs").write_text("pub fn f() {}\n")
    (tree / "Cargo.toml").write_text("[workspace]\n")
    os.symlink("std", tree / "link")
    first = _tree_part("lib", str(tree))
    os.utime(tree / "Cargo.toml", (1, 1))
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    assert _tree_part("lib", str(copy)) == first  # same content elsewhere: same digest
    (tree / "std/src/lib.rs").write_text("pub fn g() {}\n")
    assert _tree_part("lib", str(tree))[1] != first[1]


ZIG_PIN = """\
[toolchain.zig.platform.linux-x86_64]
binary = "ziglang/zig"
kind = "zip"
package = "ziglang"
registry = "pypi"
artifacts = [
  { path = "packages/59/e3/x/ziglang-0.17.1.whl", hash = "sha256:%s", size = 1 },
]
""" % ("e" * 64)

GO_FOUND = """\
[toolchain.go.platform.linux-x86_64]
kind = "found"
version = "1.26.8"
artifacts = [
  { path = "bin/go", hash = "sha256:%s", size = 1 },
]
""" % ("d" * 64)


def _lock(tool: str, version: str, body: str) -> str:
    return (f'version = 1\nmanifest-digest = ""\n\n[toolchain.{tool}]\nversion = "{version}"\nsource = "x"\n'
            f'digest = "sha256:00"\n\n{body}')


@pytest.mark.parametrize(("tool", "version", "body", "why"), [
    ("zig", "0.17.1", ZIG_PIN.replace("ziglang/zig", "../../../bin/sh"), "binary '../../../bin/sh' must be a relative path"),
    ("zig", "0.17.1", ZIG_PIN.replace("packages/59", "../../59"), "must be a relative path under the registry's file root"),
    ("zig", "0.17.1", ZIG_PIN.replace('kind = "zip"', 'kind = "exec"'), "kind 'exec' is not one of zip, tgz, pip, nuitka, found"),
    ("zig", "0.17.1", ZIG_PIN.replace('"pypi"', '"http://evil"'), "registry 'http://evil' is not one of pypi, npm"),
    ("zig", "0.17.1", ZIG_PIN.replace("sha256:e", "md5:e"), "is not sha256:<hex> nor an npm sha512-<base64> integrity"),
    ("zig", "../../x", ZIG_PIN, "toolchain 'zig' version '../../x' is refused"),
    ("go", "1.26.8", GO_FOUND.replace('"bin/go"', '"/usr/bin/go"'), "'/usr/bin/go' is neither a relative path"),
    ("go", "1.26.8", GO_FOUND.replace("sha256:d", "sha1:d"), "is not sha256:<64 hex digits>"),
    ("go", "1.26.8", GO_FOUND.replace('version = "1.26.8"\nartifacts', 'version = "1 2"\nartifacts'),
     "a found toolchain's `version` must be a plain version string"),
    ("go", "1.26.8", GO_FOUND.replace("linux-x86_64", '"../x"'), "'../x' is not a platform name"),
])
def test_hostile_toolchain_entries_are_refused_with_their_line(tool: str, version: str, body: str, why: str) -> None:
    text = _lock(tool, version, body)
    with pytest.raises(LockError) as e:
        model.loads(text, "ppm.lock")
    assert why in str(e.value) and str(e.value).startswith("ppm.lock:"), str(e.value)


def test_a_found_record_cannot_become_a_download_nor_a_pin_a_record() -> None:
    as_download = _lock("go", "1.26.8", ZIG_PIN.replace("toolchain.zig", "toolchain.go"))
    with pytest.raises(LockError, match="toolchain 'go' is found on the machine, never downloaded"):
        locked.host_pins(model.loads(as_download), "linux-x86_64")
    as_record = _lock("zig", "0.17.1", GO_FOUND.replace("toolchain.go", "toolchain.zig"))
    with pytest.raises(LockError, match="toolchain 'zig' is not one ppm finds on the machine"):
        locked.host_pins(model.loads(as_record), "linux-x86_64")
    pins = locked.host_pins(model.loads(_lock("go", "1.26.8", GO_FOUND)), "linux-x86_64")
    assert dict(pins) == {} and pins.found["go"].parts == (("bin/go", "sha256:" + "d" * 64, 1),)


def _fake_rustup(base: Path) -> Path:
    """A Rust installation laid out as rustup lays one out, with the std of two other targets.
    Stand-ins, because rustup's dist server is out of reach here (REFERENCE.md): `rustup target
    add` cannot install a real one; the probe only reads the layout and the files' bytes."""
    for tool in ("cargo", "rustc"):
        exe = base / "bin" / tool
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(f"#!/bin/sh\necho '{tool} 1.95.0 (stand-in)'\n")
        exe.chmod(0o755)
    for triple in ("aarch64-unknown-linux-gnu", "x86_64-pc-windows-gnu"):
        lib = base / "lib/rustlib" / triple / "lib"
        lib.mkdir(parents=True)
        (lib / "libstd-0123.rlib").write_bytes(f"std for {triple}".encode())
    return base


def test_rustups_target_std_is_recorded_for_the_projects_targets(tmp_path: Path, ppm_cache: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rust = _fake_rustup(tmp_path / "rust")
    path = f"{rust / 'bin'}:{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    tc = toolchains.resolve(["rust-std"], provision=False)["rust-std"]
    assert tc.usable and tc.version == "1.95.0"
    assert {label for label, _, _ in tc.parts} == {"lib/rustlib/aarch64-unknown-linux-gnu/lib",
                                                   "lib/rustlib/x86_64-pc-windows-gnu/lib"}
    root = tmp_path / "r"
    (root / "core/src").mkdir(parents=True)
    (root / "ppm.toml").write_text(RUST_PROJECT)
    (root / "core/Cargo.toml").write_text('[package]\nname = "core"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                          '[lib]\nname = "rcore"\ncrate-type = ["staticlib"]\n')
    (root / "core/Cargo.lock").write_text('version = 4\n\n[[package]]\nname = "core"\nversion = "0.1.0"\n')
    (root / "core/src/lib.rs").write_text("")
    env = {"PATH": path}
    run_ppm("lock", cwd=root, env=env)
    here = toolchains.host_platform()
    entry = model.read(root / "ppm.lock").toolchains["rust-std"].platforms[here]
    # the project targets linux-aarch64: Windows' std, installed too, is not the lock's business
    assert [a["path"] for a in entry["artifacts"]] == ["lib/rustlib/aarch64-unknown-linux-gnu/lib"]

    # rustup updated aarch64's std since the lock was written: the build says so before running
    (rust / "lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-0123.rlib").write_bytes(b"another std")
    p = run_ppm("build", "--target", "linux-aarch64", cwd=root, env=env, check=False)
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())
    assert ("component 'core': building Rust for aarch64-unknown-linux-gnu needs rust-std, but the rust-std found here "
            f"is not the one ppm.lock records for {here}: locked 1.95.0 (lib/rustlib/aarch64-unknown-linux-gnu/lib ") in err, err
    assert "`ppm lock --upgrade-package toolchain:rust-std`" in err
    assert not (root / "dist").exists()


def test_a_target_std_not_installed_here_is_not_a_difference() -> None:
    aarch64 = ("lib/rustlib/aarch64-unknown-linux-gnu/lib", "sha256:" + "a" * 64, 1)
    windows = ("lib/rustlib/x86_64-pc-windows-gnu/lib", "sha256:" + "b" * 64, 1)
    rec = FoundRecord("rust-std", "linux-x86_64", "1.95.0", (aarch64, windows))
    tc = Toolchain("rust-std", "1.95.0", "found", ["/x/cargo"], {}, "id", True, parts=(windows,))
    assert check_found(tc, rec) is tc  # aarch64's std is not here: cargo builds it from source instead
    changed = Toolchain("rust-std", "1.95.0", "found", ["/x/cargo"], {}, "id", True,
                        parts=((windows[0], "sha256:" + "c" * 64, 1),))
    bad = check_found(changed, rec)
    assert not bad.usable and bad.info["differ"] == "lib/rustlib/x86_64-pc-windows-gnu/lib"


def test_a_found_entry_does_not_depend_on_the_machine_writing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def rec(version: str, digit: str) -> dict:
        return {"kind": "found", "version": version, "artifacts": [{"path": "bin/go", "hash": "sha256:" + digit * 64, "size": 1}]}

    plats = {"linux-x86_64": rec("1.26.8", "a"), "linux-aarch64": rec("1.26.7", "b")}
    texts = set()
    for here in ("linux-x86_64", "linux-aarch64"):
        monkeypatch.setattr(locked, "host_platform", lambda here=here: here)
        texts.add(model.dumps(model.Lock(toolchains={"go": locked.from_found("go", dict(reversed(plats.items())))})))
    (text,) = texts
    assert 'version = "1.26.7"' in text.split("[toolchain.go.platform")[0]
