"""Zig: a shared library built from one root source file with `zig build-lib -dynamic`.

Zig cross-compiles to every target out of the box, so the target is only a `-target` flag.
Both of zig's caches live in {state}: they persist between local runs, never feed the key."""

from __future__ import annotations

from ppm.builders.base import (
    TEST_LOG,
    Builder,
    PlanContext,
    Setting,
    join,
    output_name,
    test_command,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.manifest import Component

_OPTIMIZE = ("Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall")


class ZigBuilder(Builder):
    name = "zig"
    tools = ("zig",)
    settings = {
        "root": Setting(str, "src/main.zig", "the root source file, relative to the component"),
        "sources": Setting(list, ["**/*.zig", "**/*.zon"], "files (relative to the component) whose contents feed the key"),
        "lib": Setting(str, None, "the library's name (default: the component's name): lib<lib>.so on Linux"),
        "optimize": Setting(str, "ReleaseSmall", f"one of {', '.join(_OPTIMIZE)}"),
        "link_libc": Setting(bool, False, "link the target's C library (-lc)"),
        "kind": Setting(str, "shared", "shared or static (lib<lib>.a, for a host that links it in)"),
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        patterns = list(s.get("sources", []))
        if not all(isinstance(p, str) for p in patterns):
            raise ManifestError(f"components.{component.name}.sources: expected a list of strings")
        root = s.get("root", "src/main.zig")
        inputs, scanned = ctx.glob(component, patterns + [root])
        if join(component.path, root) not in inputs:
            raise ManifestError(f"component {component.name!r}: root source file {join(component.path, root)} does not exist",
                                hint="set `root = \"path/to/lib.zig\"` in its [components] table")
        optimize = s.get("optimize", "ReleaseSmall")
        if optimize not in _OPTIMIZE:
            raise ManifestError(f"components.{component.name}.optimize: {optimize!r} is not one of {', '.join(_OPTIMIZE)}")
        lib = output_name(component, "lib", s.get("lib"))
        target = ctx.target
        kind = s.get("kind", "shared")
        if kind not in ("shared", "static"):
            raise ManifestError(f"components.{component.name}.kind: {kind!r} is not one of shared, static")
        out_file = target.shared_lib(lib) if kind == "shared" else target.static_lib(lib)
        if kind == "static":
            argv = ["{tool:zig}", "build-lib"]
        elif target.os == "wasi":
            # WebAssembly has no dynamic libraries: a reactor module that exports its functions.
            argv = ["{tool:zig}", "build-exe", "-fno-entry", "-rdynamic"]
        else:
            argv = ["{tool:zig}", "build-lib", "-dynamic"]
        argv += ["-O", optimize, "-target", target.zig_triple, "--name", lib]
        if optimize != "Debug":
            argv.append("-fstrip")  # no debug info: smaller, and no build paths in the file
        if s.get("link_libc"):
            argv.append("-lc")
        if target.os == "windows" and kind == "shared":
            argv.append("-fno-emit-implib")  # the import .lib would be an undeclared output
        argv += [
            f"-femit-bin={{out}}/{out_file}",
            "--cache-dir", "{state}/local-cache",
            "--global-cache-dir", "{state}/global-cache",
            f"{{src}}/{root}",
        ]
        return [
            Action(
                component=component.name,
                name="build-lib",
                commands=[argv],
                outputs=[out_file],
                inputs=inputs,
                scanned_dirs=scanned,
                # The flags place both caches; the variables do the same for any zig child
                # process that reads them instead.
                env={"ZIG_GLOBAL_CACHE_DIR": "{state}/global-cache", "ZIG_LOCAL_CACHE_DIR": "{state}/local-cache"},
                tools=list(self.tools),
                settings=dict(s),
                description=f"zig build-lib {component.name} ({target.zig_triple})",
            )
        ]


    test_format = "zig"

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """`zig test` on the root source file: every `test` block it reaches, built for this machine."""
        s = component.settings
        root = s.get("root", "src/main.zig")
        inputs, scanned = ctx.glob(component, [*s.get("sources", []), root])
        argv = ["{tool:zig}", "test", f"{{src}}/{root}", "--cache-dir", "{state}/local-cache",
                "--global-cache-dir", "{state}/global-cache"]
        if s.get("link_libc"):
            argv.append("-lc")
        return [Action(
            component=component.name, name="test", commands=[test_command("test", argv)], outputs=[TEST_LOG],
            inputs=inputs, scanned_dirs=scanned,
            env={"ZIG_GLOBAL_CACHE_DIR": "{state}/global-cache", "ZIG_LOCAL_CACHE_DIR": "{state}/local-cache"},
            tools=list(self.tools), settings=dict(s), description=f"zig test {component.name}",
        )]


BUILDER = ZigBuilder
