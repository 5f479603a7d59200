"""Rust: a cdylib crate built by cargo for the target's Rust triple.

Cargo's target directory lives in {state}: it persists between local runs (so a rebuild
after a one-line change is incremental) but never feeds the action key."""

from __future__ import annotations

import tomllib

from ppm.builders.base import Builder
from ppm.builders.base import PlanContext
from ppm.builders.base import Setting
from ppm.builders.base import join
from ppm.builders.base import strs
from ppm.builders.base import TEST_LOG, test_command
from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.manifest import Component


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
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        manifest = _read_cargo_toml(ctx, component)
        crate = s.get("lib") or _lib_name(manifest, component)
        inputs, scanned = ctx.glob(component, strs(component, "sources", s.get("sources", [])))
        lock = join(component.path, "Cargo.lock")
        if lock not in inputs:
            raise ManifestError(
                f"component {component.name!r}: {lock} is missing; ppm builds with `cargo build --locked`",
                hint=f"run `cargo generate-lockfile --manifest-path {join(component.path, 'Cargo.toml')}` and commit Cargo.lock (`ppm sync` writes it when ppm.toml declares the crate's dependencies)",
            )
        triple = ctx.target.rust_triple
        profile = s.get("profile", "release")
        offline = s.get("offline")
        if offline is None:
            # Nothing to download means the network can only hurt (an index refresh, a
            # hang behind a proxy); with dependencies, cargo fetches exactly what Cargo.lock pins.
            offline = not _has_dependencies(manifest) and not component.dependencies.get("cargo")
        argv = ["{tool:cargo}", "build", "--profile", profile, "--locked"]
        # Crates ppm synced from ppm.lock: offline, from the vendored copies.
        if ctx.synced.cargo_args:
            argv += ctx.synced.cargo_args
        elif offline:
            argv.append("--offline")
        features = strs(component, "features", s.get("features", []))
        if features:
            argv += ["--features", ",".join(features)]
        argv += ["--target", triple, "--manifest-path", "{src}/Cargo.toml", "--target-dir", "{state}/target"]
        lib_file = ctx.target.shared_lib(crate)
        # cargo names the profile's directory "debug" for the dev profile.
        built = f"{{state}}/target/{triple}/{'debug' if profile == 'dev' else profile}/{lib_file}"
        return [
            Action(
                component=component.name,
                name="build",
                commands=[argv, ["@copy", built, f"{{out}}/{lib_file}"]],
                outputs=[lib_file],
                inputs=inputs,
                scanned_dirs=scanned,
                # Colour codes and a progress bar only clutter the engine's log.
                env={"CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never"},
                tools=list(self.tools),
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


def _read_cargo_toml(ctx: PlanContext, component: Component) -> dict:
    path = ctx.root / component.path / "Cargo.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"component {component.name!r}: no Cargo.toml in {component.path}/",
                            hint="builder \"cargo\" expects a crate with crate-type = [\"cdylib\"]") from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{join(component.path, 'Cargo.toml')}: invalid TOML: {e}") from None


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
