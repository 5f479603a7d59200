"""Rust: a cdylib or staticlib crate built by cargo for the target's Rust triple.

Cargo's target directory lives in {state}: it persists between local runs (so a rebuild
after a one-line change is incremental) but never feeds the action key.

For another target, cargo uses that target's std when the toolchain has it (`rustup target
add`); otherwise the `cargo-build-std` toolchain builds std from Rust's sources
(`-Zbuild-std`), linking with zig cc (Linux, glibc floor) or mingw-w64 (Windows). Cargo
keeps the std it built per target in {state}, so it is built once."""

from __future__ import annotations

import os
import re
import tomllib

from ppm import targets
from ppm.builders.base import (
    TEST_LOG,
    Builder,
    PlanContext,
    Setting,
    join,
    strs,
    test_command,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError, ToolchainError
from ppm.core.manifest import Component
from ppm.targets import Target
from ppm.toolchains import Toolchain

_CRATE_TYPES = ("cdylib", "staticlib", "bin")

# Tables of Cargo.toml that name third-party crates (the target-specific ones sit under
# [target.'cfg(..)'.dependencies] and are checked separately).
_DEP_TABLES = ("dependencies", "build-dependencies")


class CargoBuilder(Builder):
    name = "cargo"
    tools = ("cargo",)
    settings = {
        "sources": Setting(list, ["Cargo.toml", "Cargo.lock", "build.rs", "src/*", "benches/*", "examples/*"],
                           "files (relative to the component) whose contents feed the key"),
        "lib": Setting(str, None, "the library's crate name (default: [lib].name, or the package name with '-' as '_')"),
        "profile": Setting(str, "release", "cargo profile to build with"),
        "features": Setting(list, [], "cargo features to enable"),
        "offline": Setting(bool, None, "pass --offline (default: only when the crate has no dependencies)"),
        "crate_type": Setting(str, "cdylib", f"one of {', '.join(_CRATE_TYPES)}: the library kind to take from the crate "
                                             "(a host that links it statically, e.g. through cgo, wants staticlib)"),
    }

    @classmethod
    def tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        return ("cargo",) if target == targets.host() else ("cargo", "zig")

    @classmethod
    def optional_tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        """Looked up, not required: which one a cross build uses is decided while planning."""
        if target == targets.host():
            return ()
        return ("cargo-build-std", {"windows": "mingw", "wasi": "wasm-ld"}.get(target.os, "zig"), "rust-std")

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        manifest = _read_cargo_toml(ctx, component)
        crate_type = s.get("crate_type", "cdylib")
        # A bin crate (a Rust host) is named by its package; a library by [lib].name.
        crate = s.get("lib") or (_package_name(manifest, component) if crate_type == "bin" else _lib_name(manifest, component))
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", crate):
            raise ManifestError(f"component {component.name!r}: crate name {crate!r} is not a plain file name")
        inputs, scanned = ctx.glob(component, strs(component, "sources", s.get("sources", [])))
        lock = join(component.path, "Cargo.lock")
        if lock not in inputs:
            raise ManifestError(
                f"component {component.name!r}: {lock} is missing; ppm builds with `cargo build --locked`",
                hint=f"run `cargo generate-lockfile --manifest-path {join(component.path, 'Cargo.toml')}` and commit Cargo.lock (`ppm sync` writes it when ppm.toml declares the crate's dependencies)",
            )
        triple = ctx.target.rust_triple
        if crate_type not in _CRATE_TYPES:
            raise ManifestError(f"components.{component.name}.crate_type: {crate_type!r} is not one of {', '.join(_CRATE_TYPES)}")
        tool, std_argv, std_env, std_tools = _std_for(component, ctx)
        profile = s.get("profile", "release")
        offline = s.get("offline")
        if offline is None:
            # Nothing to download means the network can only hurt (an index refresh, a
            # hang behind a proxy); with dependencies, cargo fetches exactly what Cargo.lock pins.
            offline = not _has_dependencies(manifest) and not component.dependencies.get("cargo")
        argv = [f"{{tool:{tool}}}", "build", "--profile", profile, "--locked", *std_argv]
        # Crates ppm synced from ppm.lock: offline, from the vendored copies.
        sources: list[list[str]] = []
        if ctx.synced.cargo_args and tool == "cargo-build-std":
            write, prefix, merged = _merged_sources(component, ctx.synced.cargo_args)
            sources.append(write)
            argv = [*prefix, *argv, *merged]
        elif ctx.synced.cargo_args:
            argv += ctx.synced.cargo_args
        elif offline:
            argv.append("--offline")
        features = strs(component, "features", s.get("features", []))
        if features:
            argv += ["--features", ",".join(features)]
        argv += ["--target", triple, "--manifest-path", "{src}/Cargo.toml", "--target-dir", "{state}/target"]
        if crate_type == "bin":
            argv += ["--bin", crate]
            lib_file = ctx.target.executable(crate)
        else:
            lib_file = ctx.target.static_lib(crate) if crate_type == "staticlib" else ctx.target.shared_lib(crate)
        # cargo names the profile's directory "debug" for the dev profile.
        built = f"{{state}}/target/{triple}/{'debug' if profile == 'dev' else profile}/{lib_file}"
        return [
            Action(
                component=component.name,
                name="build",
                commands=[*_linker_script(std_env), *sources, argv, ["@copy", built, f"{{out}}/{lib_file}"]],
                outputs=[lib_file],
                inputs=inputs,
                scanned_dirs=scanned,
                # Colour codes and a progress bar only clutter the engine's log.
                env={"CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never", **std_env},
                tools=[tool, *std_tools],
                settings=dict(s),
                description=f"cargo build {component.name} ({triple})",
            )
        ]


    test_format = "cargo"

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """`cargo test` on the crate: its unit tests, tests/ and doc tests, in cargo's own target
        directory (debug profile, so it does not disturb the release build's incremental state)."""
        s = component.settings
        manifest = _read_cargo_toml(ctx, component)
        patterns = strs(component, "sources", s.get("sources", []))
        inputs, scanned = ctx.glob(component, [*patterns, "tests/*", "tests/**/*.rs"])
        argv = ["{tool:cargo}", "test", "--locked", "--color", "never"]
        offline = s.get("offline")
        if offline is None:
            offline = not _has_dependencies(manifest) and not component.dependencies.get("cargo")
        if ctx.synced.cargo_args:
            argv += list(ctx.synced.cargo_args)
        elif offline:
            argv.append("--offline")
        features = strs(component, "features", s.get("features", []))
        if features:
            argv += ["--features", ",".join(features)]
        argv += ["--manifest-path", "{src}/Cargo.toml", "--target-dir", "{state}/target"]
        return [Action(
            component=component.name, name="test", commands=[test_command("test", argv)], outputs=[TEST_LOG],
            inputs=inputs, scanned_dirs=scanned, env={"CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never"},
            tools=list(self.tools), settings=dict(s), description=f"cargo test {component.name}",
        )]


def _has_std(tc: Toolchain | None, triple: str) -> bool:
    sysroot = tc.info.get("sysroot") if tc is not None and tc.usable else None
    if not sysroot:
        return False
    return os.path.isdir(os.path.join(sysroot, "lib", "rustlib", triple, "lib"))


def _std_for(component: Component, ctx: PlanContext) -> tuple[str, list[str], dict[str, str], list[str]]:
    """(toolchain, extra cargo arguments, environment, other toolchains) that give cargo a std and
    a linker for ctx.target: the installed std when there is one, else one built from Rust's sources."""
    target = ctx.target
    triple = target.rust_triple
    cargo = ctx.toolchains.get("cargo")
    if target == targets.host() or not ctx.toolchains:
        return "cargo", [], {}, []
    if _has_std(cargo, triple):  # rustup's std: only the linker is ours to give (rustup ships rust-lld for wasm)
        rust_std = ctx.toolchains.get("rust-std")
        if rust_std is not None and f"lib/rustlib/{triple}/lib" in rust_std.info.get("differ", "").split(","):
            _refuse_if_unlike_lock(component, triple, rust_std)
        env, tools = _linker(component, ctx) if target.os != "wasi" else ({}, [])
        return "cargo", [], env, tools
    build_std = ctx.toolchains.get("cargo-build-std")
    _refuse_if_unlike_lock(component, triple, build_std)
    if build_std is None or not build_std.usable:
        why = build_std.note if build_std is not None else "not looked up"
        raise ToolchainError(
            f"component {component.name!r}: Rust has no std for {triple} here (the cargo in use has only "
            f"{', '.join(_installed_stds(cargo)) or 'no'} std), and it cannot be built from source: {why}",
            hint=f"either `rustup target add {triple}`, or install Rust's library sources so ppm builds std itself "
                 f"(Debian: `apt-get install rustc-web cargo-web rust-web-src`)",
        )
    if target.os not in ("linux", "windows", "wasi"):
        raise ToolchainError(f"component {component.name!r}: ppm cannot build Rust's std for {triple} from source "
                             f"(no linker setup for {target.os} yet)", hint=f"`rustup target add {triple}`")
    env, tools = _linker(component, ctx)
    return "cargo-build-std", ["-Zbuild-std=std,panic_abort"], env, tools


def _refuse_if_unlike_lock(component: Component, triple: str, tc: Toolchain | None) -> None:
    """A toolchain the lock records differently than found here: the note says which and what to do."""
    if tc is not None and tc.info.get("lock-mismatch"):
        raise ToolchainError(f"component {component.name!r}: building Rust for {triple} needs {tc.name}, but {tc.note}")


def _linker(component: Component, ctx: PlanContext) -> tuple[dict[str, str], list[str]]:
    """The linker for another target: mingw-w64 for Windows (zig cc would need cargo-zigbuild's
    rewriting of rustc's arguments), zig cc at the glibc floor for Linux."""
    target = ctx.target
    triple = target.rust_triple
    var = "CARGO_TARGET_" + triple.upper().replace("-", "_")
    if target.os == "windows":
        return _found_linker(component, ctx, var, "mingw", "mingw-w64 as the linker", "`apt-get install gcc-mingw-w64-x86-64`")
    if target.os == "wasi":
        # zig cc rejects rustc's --stack-first; LLVM's wasm-ld links against wasi-libc (its
        # library path comes with the toolchain's environment).
        return _found_linker(component, ctx, var, "wasm-ld", "wasm-ld and wasi-libc",
                             "`apt-get install lld wasi-libc`, or `rustup target add wasm32-wasip1`")
    if target.os == "linux":
        # rustc wants one program as its linker: a two-line script running zig cc for the
        # target, written by the action itself (see the commands below), at the glibc floor.
        return ({f"{var}_LINKER": "{state}/zig-cc-linker", "CC_" + triple.replace("-", "_"): "{state}/zig-cc-linker",
                 "PPM_ZIG_CC_TARGET": target.zig_triple, "ZIG_GLOBAL_CACHE_DIR": "{state}/zig-cache",
                 "ZIG_LOCAL_CACHE_DIR": "{state}/zig-cache"}, ["zig"])
    return {}, []


def _found_linker(component: Component, ctx: PlanContext, var: str, name: str, what: str, hint: str) -> tuple[dict[str, str], list[str]]:
    """A linker found on the machine (mingw-w64, wasm-ld) as cargo's linker for the target, or
    a message naming what is missing and how to install it."""
    triple = ctx.target.rust_triple
    tc = ctx.toolchains.get(name)
    _refuse_if_unlike_lock(component, triple, tc)
    if tc is None or not tc.usable:
        raise ToolchainError(f"component {component.name!r}: building Rust for {triple} needs {what}: "
                             f"{tc.note if tc else 'not looked up'}", hint=hint)
    return {f"{var}_LINKER": f"{{tool:{name}}}"}, [name]


# -Zbuild-std with crates ppm vendored: both std's dependencies (vendored with Rust's sources) and
# the crate's (vendored by `ppm sync`) replace crates.io, and cargo takes one replacement. This
# joins them into one directory source of links, in {state}, before cargo runs; a crate both
# hold is the same crates.io release (the same name-version directory), taken once.
_MERGE_SOURCES = """#!/bin/sh
set -eu
dest=$1; ours=$2; shift 2
rm -rf "$dest"; mkdir -p "$dest"
std=${PPM_RUST_SRC_VENDOR:?the Rust library sources hold no vendor directory, so the crates std needs cannot be found offline}
for c in "$ours"/* "$std"/*; do
  [ -d "$c" ] || continue
  n=$(basename "$c")
  [ -e "$dest/$n" ] || ln -s "$c" "$dest/$n"
done
exec "$@"
"""


def _merged_sources(component: Component, synced: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
    """(the command writing the joining script, the words that run cargo through it, cargo's
    arguments for the joined source: later than the toolchain's own --config, so theirs win)."""
    ours = next((a.split("=", 1)[1].strip('"') for a in synced if a.startswith("source.ppm-vendor.directory=")), None)
    if ours is None:
        raise ToolchainError(f"component {component.name!r}: cannot tell where `ppm sync` vendored its crates "
                             f"(cargo arguments {' '.join(synced)})", hint="run `ppm sync` again")
    merged = "{state}/cargo-sources"
    script = "{state}/merge-cargo-sources"
    # A new source name: cargo keeps the first definition of a source's directory, but the
    # last word on what replaces crates.io.
    return (["@write", script, _MERGE_SOURCES, "755"], [script, merged, ours],
            ["--offline", "--config", 'source.crates-io.replace-with="ppm-joined"',
             "--config", f'source.ppm-joined.directory="{merged}"'])


_ZIG_CC_LINKER = '#!/bin/sh\nexec {tool:zig} cc -target "$PPM_ZIG_CC_TARGET" "$@"\n'


def _linker_script(env: dict[str, str]) -> list[list[str]]:
    """The zig cc wrapper, when the environment names it (in {state}: cargo fingerprints the
    linker's path, so a fresh path per run would rebuild std every time)."""
    if "{state}/zig-cc-linker" not in env.values():
        return []
    return [["@write", "{state}/zig-cc-linker", _ZIG_CC_LINKER, "755"]]


def _installed_stds(tc: Toolchain | None) -> list[str]:
    sysroot = tc.info.get("sysroot") if tc is not None else None
    if not sysroot:
        return []
    base = os.path.join(sysroot, "lib", "rustlib")
    try:
        return sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d, "lib")))
    except OSError:
        return []


def _read_cargo_toml(ctx: PlanContext, component: Component) -> dict:
    path = ctx.root / component.path / "Cargo.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"component {component.name!r}: no Cargo.toml in {component.path}/",
                            hint="builder \"cargo\" expects a crate with crate-type = [\"cdylib\"]") from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{join(component.path, 'Cargo.toml')}: invalid TOML: {e}") from None


def _package_name(manifest: dict, component: Component) -> str:
    package = manifest.get("package", {}).get("name")
    if not isinstance(package, str):
        raise ManifestError(f"component {component.name!r}: Cargo.toml has no [package] name")
    return package


def _lib_name(manifest: dict, component: Component) -> str:
    lib = manifest.get("lib", {})
    if isinstance(lib.get("name"), str):
        return lib["name"]
    package = manifest.get("package", {}).get("name")
    if not isinstance(package, str):
        raise ManifestError(f"component {component.name!r}: Cargo.toml has no [package] name")
    return package.replace("-", "_")


def _has_dependencies(manifest: dict) -> bool:
    tables = [manifest.get(t) for t in _DEP_TABLES]
    for spec in manifest.get("target", {}).values():
        if isinstance(spec, dict):
            tables += [spec.get(t) for t in _DEP_TABLES]
    return any(tables)


BUILDER = CargoBuilder
