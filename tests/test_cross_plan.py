"""Planning for other targets: what each builder asks the engine to run, and the messages a user
gets when a target cannot be reached from this machine. No toolchain runs here except in the
tests that say so (macOS through a real `ppm` process; a small multi-target build)."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from helpers import run_ppm
from ppm import targets
from ppm.builders import REGISTRY, check_manifest
from ppm.builders.base import PlanContext, Synced
from ppm.core.action import Action
from ppm.core.errors import ManifestError, ToolchainError
from ppm.core.manifest import Manifest
from ppm.core.manifest import load as _load
from ppm.templates import create
from ppm.toolchains import Toolchain
from registry_server import RegistryServer


def load(root: Path) -> Manifest:
    """A manifest as the planner sees it: builders and settings checked, defaults filled in."""
    return check_manifest(_load(root))


AARCH64 = targets.TARGETS["linux-aarch64"]
WINDOWS = targets.TARGETS["windows-x86_64"]
WASM = targets.TARGETS["wasm32-wasi"]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load(create(tmp_path_factory.mktemp("d") / "dt", "desktop"))


def plan(m: Manifest, name: str, target: targets.Target, deps: dict[str, list[str]] | None = None,
         toolchains: dict[str, Toolchain] | None = None) -> list[Action]:
    c = m.components[name]
    ctx = PlanContext(root=m.root, target=target, deps=deps or {}, toolchains=toolchains or {})
    return [_lists(a) for a in REGISTRY[c.builder]().plan(c, ctx)]


def _lists(a: Action) -> Any:
    """The action with its (frozen) tuples as lists, so the expectations below read as data."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return SimpleNamespace(**{f.name: conv(getattr(a, f.name)) for f in fields(a)})


def _tc(name: str, usable: bool = True, **info: str) -> Toolchain:
    return Toolchain(name, "1", "test", [f"/opt/{name}"], {}, f"id-{name}", usable, "" if usable else "not here", dict(info))


# -- targets ---------------------------------------------------------------------------------

def test_windows_is_the_gnu_abi_and_linux_has_a_glibc_floor() -> None:
    assert WINDOWS.rust_triple == "x86_64-pc-windows-gnu"
    assert AARCH64.zig_triple == f"aarch64-linux-gnu.{targets.GLIBC_FLOOR}"
    assert targets.TARGETS["linux-x86_64"].zig_triple.endswith(".2.17")
    assert all(t.esbuild_platform == "browser" for t in targets.TARGETS.values() if t.os != "wasi")


# -- go --------------------------------------------------------------------------------------

DEPS = {"core": ["libcore_rs.a"], "cmath": ["libcmath.a"], "ui": ["ui.js", "ui.css", "index.html"]}


@pytest.mark.parametrize("target", [targets.host(), AARCH64, WINDOWS], ids=lambda t: t.name)
def test_go_cross_build_uses_goos_goarch_and_zig_cc(desktop: Manifest, target: targets.Target) -> None:
    (a,) = plan(desktop, "app", target, DEPS)
    argv = a.commands[-1]
    assert argv[:3] == ["{tool:go}", "build", "-trimpath"]
    assert argv[argv.index("-o") + 1] == f"{{out}}/{target.executable('dt')}"
    assert a.outputs == [target.executable("dt")]
    assert a.env["GOOS"] == target.goos and a.env["GOARCH"] == target.goarch
    assert a.env["CGO_ENABLED"] == "1"  # main.go imports "C"
    assert a.env["CC"] == f"{{tool:zig}} cc -target {target.zig_triple}"
    # Offline and locked: no proxy, go.sum may not change, caches in {state} (never in the key).
    assert a.env["GOPROXY"] == "off" and a.env["GOFLAGS"] == "-mod=readonly" and a.env["GOTOOLCHAIN"] == "local"
    assert all(a.env[k].startswith("{state}/") for k in ("GOCACHE", "GOMODCACHE", "GOPATH"))
    assert a.cwd == "{work}/mod" and a.tools == ["go", "zig"]
    # The needed outputs are staged where go:embed and cgo's ${SRCDIR} find them.
    assert ["@copy", "{dep:core}/libcore_rs.a", "{work}/mod/ppm_deps/core/libcore_rs.a"] in a.commands
    assert ["@copy", "{dep:ui}/index.html", "{work}/mod/ppm_deps/ui/index.html"] in a.commands
    assert ["@copy", "{src}/main.go", "{work}/mod/main.go"] in a.commands
    assert a.inputs == ["app/go.mod", "app/main.go"]


def test_go_c_archive_and_wasm(desktop: Manifest) -> None:
    c = desktop.components["app"]
    lib = replace(c, settings={**c.settings, "kind": "c-archive", "exe": "hello"})
    (a,) = map(_lists, REGISTRY["go"]().plan(lib, PlanContext(desktop.root, AARCH64, DEPS)))
    assert a.outputs == ["libhello.a", "libhello.h"] and "-buildmode=c-archive" in a.commands[-1]
    shared = replace(c, settings={**c.settings, "kind": "c-shared", "exe": "hello"})
    (a,) = map(_lists, REGISTRY["go"]().plan(shared, PlanContext(desktop.root, WINDOWS, DEPS)))
    assert a.outputs == ["hello.dll", "hello.h"]
    plain = replace(c, settings={**c.settings, "cgo": False})
    (a,) = map(_lists, REGISTRY["go"]().plan(plain, PlanContext(desktop.root, WASM, {})))
    assert a.env["GOOS"] == "wasip1" and a.env["GOARCH"] == "wasm" and a.env["CGO_ENABLED"] == "0"
    assert a.outputs == ["dt.wasm"] and "CC" not in a.env
    with pytest.raises(ManifestError, match="no cgo"):
        plan(desktop, "app", WASM, DEPS)


@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", ""])
def test_go_output_names_stay_inside(desktop: Manifest, bad: str) -> None:
    c = desktop.components["app"]
    comp = replace(c, settings={**c.settings, "exe": bad})
    if bad == "":
        (a,) = map(_lists, REGISTRY["go"]().plan(comp, PlanContext(desktop.root, AARCH64, DEPS)))
        assert a.outputs == ["app"]  # empty means the default: the component's name
        return
    with pytest.raises(ManifestError, match=r"components\.app\.exe"):
        REGISTRY["go"]().plan(comp, PlanContext(desktop.root, AARCH64, DEPS))


def test_go_needs_a_module(desktop: Manifest, tmp_path: Path) -> None:
    m = load(create(tmp_path / "dt", "desktop"))
    (m.root / "app/go.mod").unlink()
    with pytest.raises(ManifestError, match=r"app/go.mod is missing"):
        plan(m, "app", AARCH64, DEPS)


# -- cargo for another target ----------------------------------------------------------------

def test_cargo_uses_the_installed_std_when_there_is_one(desktop: Manifest, tmp_path: Path) -> None:
    (tmp_path / "lib/rustlib/aarch64-unknown-linux-gnu/lib").mkdir(parents=True)  # rustup's layout
    tcs = {"cargo": _tc("cargo", sysroot=str(tmp_path)), "cargo-build-std": _tc("cargo-build-std")}
    (a,) = plan(desktop, "core", AARCH64, toolchains=tcs)
    write, build, _ = a.commands
    assert build[0] == "{tool:cargo}" and "-Zbuild-std=std,panic_abort" not in build
    assert a.outputs == ["libcore_rs.a"] and a.tools == ["cargo", "zig"]
    # rustup's std still needs a linker for the target: zig cc at the glibc floor.
    assert write[:2] == ["@write", "{state}/zig-cc-linker"]
    assert a.env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == "{state}/zig-cc-linker"


def test_cargo_builds_std_from_source_otherwise(desktop: Manifest, tmp_path: Path) -> None:
    tcs = {"cargo": _tc("cargo", sysroot=str(tmp_path)), "cargo-build-std": _tc("cargo-build-std"), "mingw": _tc("mingw")}
    write, build, copy = plan(desktop, "core", AARCH64, toolchains=tcs)[0].commands
    assert write[0] == "@write" and write[1] == "{state}/zig-cc-linker" and write[3] == "755"
    assert "exec {tool:zig} cc -target" in write[2]
    assert build[0] == "{tool:cargo-build-std}" and "-Zbuild-std=std,panic_abort" in build
    assert build[build.index("--target") + 1] == "aarch64-unknown-linux-gnu"
    assert copy[1] == "{state}/target/aarch64-unknown-linux-gnu/release/libcore_rs.a"
    (a,) = plan(desktop, "core", AARCH64, toolchains=tcs)
    assert a.env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] == "{state}/zig-cc-linker"
    assert a.env["PPM_ZIG_CC_TARGET"] == "aarch64-linux-gnu.2.17"
    (w,) = plan(desktop, "core", WINDOWS, toolchains=tcs)
    assert w.env["CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER"] == "{tool:mingw}" and w.tools == ["cargo-build-std", "mingw"]


def test_build_std_with_synced_crates_joins_both_sources(desktop: Manifest, tmp_path: Path) -> None:
    """std's crates (Rust's sources) and the crate's (ppm's vendor) both replace crates.io:
    cargo runs through a script joining them into one directory source, which replaces crates.io
    after the toolchain's own --config, so it wins; nothing machine-specific enters the action."""
    synced = Synced(cargo_args=("--offline", "--config", 'source.crates-io.replace-with="ppm-vendor"',
                                "--config", 'source.ppm-vendor.directory="{project}/.ppm/vendor/cargo"'))
    tcs = {"cargo": _tc("cargo", sysroot=str(tmp_path)), "cargo-build-std": _tc("cargo-build-std")}
    c = desktop.components["core"]
    (a,) = map(_lists, REGISTRY["cargo"]().plan(c, PlanContext(desktop.root, AARCH64, {}, tcs, synced=synced)))
    _, merge, build, _ = a.commands
    assert merge[:2] == ["@write", "{state}/merge-cargo-sources"] and merge[3] == "755"
    assert '"$PPM_RUST_SRC_VENDOR"' not in merge[2] and "${PPM_RUST_SRC_VENDOR:?" in merge[2]
    assert build[:4] == ["{state}/merge-cargo-sources", "{state}/cargo-sources", "{project}/.ppm/vendor/cargo",
                         "{tool:cargo-build-std}"]
    i = build.index('source.ppm-joined.directory="{state}/cargo-sources"')
    assert build[i - 4:i] == ["--offline", "--config", 'source.crates-io.replace-with="ppm-joined"', "--config"]
    assert not any("ppm-vendor" in w for w in build) and "-Zbuild-std=std,panic_abort" in build
    # with rustup's std, the synced crates are used as they are
    (tmp_path / "lib/rustlib/aarch64-unknown-linux-gnu/lib").mkdir(parents=True)
    (b,) = map(_lists, REGISTRY["cargo"]().plan(c, PlanContext(desktop.root, AARCH64, {}, tcs, synced=synced)))
    cmd = b.commands[1]
    i = cmd.index("--offline")
    assert cmd[0] == "{tool:cargo}" and cmd[i:i + 5] == list(synced.cargo_args)


def test_cargo_names_the_missing_std_and_both_fixes(desktop: Manifest, tmp_path: Path) -> None:
    tcs = {"cargo": _tc("cargo", sysroot=str(tmp_path)), "cargo-build-std": _tc("cargo-build-std", usable=False)}
    with pytest.raises(ToolchainError) as e:
        plan(desktop, "core", AARCH64, toolchains=tcs)
    text = str(e.value)
    assert "no std for aarch64-unknown-linux-gnu" in text
    assert "rustup target add aarch64-unknown-linux-gnu" in text and "rust-web-src" in text


# -- esbuild ---------------------------------------------------------------------------------

def test_esbuild_declares_css_static_files_and_assets(desktop: Manifest) -> None:
    (a,) = plan(desktop, "ui", AARCH64)
    assert a.outputs == ["ui.js", "ui.css", "index.html"]
    assert ["@copy", "{project}/ui/public/index.html", "{out}/index.html"] in a.commands
    assert "--platform=browser" in a.commands[0]
    assert "ui/public/index.html" in a.inputs and "ui/src/style.css" in a.inputs
    (desktop.root / "ui/src/logo.png").write_bytes(b"\x89PNG fake bytes are fine: esbuild copies them")
    try:
        c = desktop.components["ui"]
        comp = replace(c, settings={**c.settings, "loader": {".png": "file"}})
        (a,) = map(_lists, REGISTRY["esbuild"]().plan(comp, PlanContext(desktop.root, AARCH64, {})))
        assert "assets/logo.png" in a.outputs and "--loader:.png=file" in a.commands[0]
        assert "--asset-names=assets/[name]" in a.commands[0]
        bad = replace(c, settings={**c.settings, "loader": {".png": "nope"}})
        with pytest.raises(ManifestError, match=r"loader\.\.png: 'nope'"):
            REGISTRY["esbuild"]().plan(bad, PlanContext(desktop.root, AARCH64, {}))
    finally:
        (desktop.root / "ui/src/logo.png").unlink()


# -- whole builds through a real ppm process -------------------------------------------------

def test_macos_is_refused_naming_the_sdk(tmp_path: Path, ppm_cache: Path) -> None:
    root = create(tmp_path / "dt", "desktop")
    with RegistryServer() as srv:  # the template's React, from the npm fixtures
        env = {**srv.env(), "PPM_OFFLINE": "0"}
        run_ppm("lock", cwd=root, env=env)
        p = run_ppm("build", "--target", "host", "--target", "macos-arm64", cwd=root, check=False, env=env)
    assert p.returncode == 1, p.stderr
    assert f"target macos-arm64 cannot be built from this {targets.host().name} machine: it needs Apple's macOS SDK" in p.stderr
    assert not (root / "dist").exists()  # refused before anything ran
