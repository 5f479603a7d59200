"""Go: `go build` of one package of a module into an executable, a c-archive or a c-shared library.

The action copies the module's sources into {work}/mod and stages what the component needs
under {work}/mod/ppm_deps/<component>/, so `//go:embed ppm_deps/ui` and cgo's
`${SRCDIR}/ppm_deps/core/libcore.a` find them; the source tree is never written to.

Offline and locked: GOPROXY is `off`, or the file:// tree `ppm sync` built from ppm.lock, and
go verifies every module against go.sum (GOFLAGS=-mod=readonly: nothing may change it).
Cross builds set GOOS/GOARCH; cgo compiles and links with `zig cc` for the target (at the
glibc floor on Linux). Go's build and module caches live in {state}: never in the key."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ppm.builders.base import (
    TEST_LOG,
    Builder,
    PlanContext,
    Setting,
    join,
    output_name,
    strs,
    test_command,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError

if TYPE_CHECKING:
    from ppm.core.manifest import Component
    from ppm.targets import Target

KINDS = ("executable", "c-archive", "c-shared")
DEPS_DIR = "ppm_deps"
_IMPORT_C = re.compile(rb'^\s*import\s+(?:\(\s*)?"C"', re.M)


class GoBuilder(Builder):
    name = "go"
    tools = ("go", "zig")
    settings = {
        "package": Setting(str, ".", "the package to build, relative to the module (./cmd/app)"),
        "sources": Setting(list, ["**/*.go", "go.mod", "go.sum", "**/*.c", "**/*.h", "**/*.s"],
                           "files (relative to the component) copied into the build and whose contents feed the key"),
        "kind": Setting(str, "executable", f"one of {', '.join(KINDS)}"),
        "exe": Setting(str, None, "the executable's or library's name (default: the component's name)"),
        "cgo": Setting(bool, None, "enable cgo (default: when a .go file imports \"C\")"),
        "ldflags": Setting(list, ["-s", "-w"], "passed to go build -ldflags (default: strip symbols)"),
        "tags": Setting(list, [], "build tags"),
    }

    @classmethod
    def tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        # zig only matters with cgo, which needs the sources to tell; asking for it always
        # costs nothing (it is provisioned, not probed).
        return cls.tools

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        kind = s.get("kind", "executable")
        if kind not in KINDS:
            raise ManifestError(f"components.{component.name}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        stem = output_name(component, "exe", s.get("exe"))
        package = s.get("package", ".")
        if not isinstance(package, str) or package.startswith("/") or ".." in package.split("/"):
            raise ManifestError(f"components.{component.name}.package: {package!r} must be a package path inside the module")
        # `go build` never reads *_test.go: they feed only the test action (editing a test
        # reruns the tests, not the build)
        inputs, scanned = ctx.glob(component, strs(component, "sources", s.get("sources", [])), exclude=_TESTS)
        if join(component.path, "go.mod") not in inputs:
            raise ManifestError(f"component {component.name!r}: {join(component.path, 'go.mod')} is missing; the go builder builds a module",
                                hint=f"run `go mod init example.com/{component.name}` in {component.path}/")
        target = ctx.target
        cgo = s.get("cgo")
        if cgo is None:
            cgo = any(_IMPORT_C.search((ctx.root / f).read_bytes()) for f in inputs if f.endswith(".go"))
        if target.os == "wasi" and (cgo or kind != "executable"):
            raise ManifestError(f"component {component.name!r}: Go builds only plain executables for {target.name} (no cgo, no c-archive)")
        outputs = _outputs(kind, stem, target)

        prefix = component.path.rstrip("/") + "/" if component.path not in ("", ".") else ""
        copies = [["@copy", f"{{src}}/{f[len(prefix):]}", f"{{work}}/mod/{f[len(prefix):]}"] for f in inputs]
        for dep in sorted(ctx.deps):
            for f in sorted(ctx.deps[dep]):
                copies.append(["@copy", f"{{dep:{dep}}}/{f}", f"{{work}}/mod/{DEPS_DIR}/{dep}/{f}"])

        argv = ["{tool:go}", "build", "-trimpath", "-buildvcs=false", "-o", f"{{out}}/{outputs[0]}"]
        if kind != "executable":
            argv.append(f"-buildmode={kind}")
        ldflags = strs(component, "ldflags", s.get("ldflags", []))
        if ldflags:
            argv.append("-ldflags=" + " ".join(ldflags))
        tags = strs(component, "tags", s.get("tags", []))
        if tags:
            argv.append("-tags=" + ",".join(tags))
        argv.append(package if package.startswith(".") else f"./{package}")

        env = {
            "GOOS": target.goos, "GOARCH": target.goarch, "CGO_ENABLED": "1" if cgo else "0",
            "GOCACHE": "{state}/go-build", "GOMODCACHE": "{state}/go-mod", "GOPATH": "{state}/go-path",
            "GOENV": "off", "GOWORK": "off", "GOTOOLCHAIN": "local", "GOTELEMETRY": "off",
            "GOFLAGS": "-mod=readonly", "GOPROXY": "off", "GOSUMDB": "off",
        }
        locked = dict(ctx.synced.go_env)  # the file:// module tree ppm synced from ppm.lock
        env.update(locked)
        # Modules extracted into {state} on an earlier run are not checked against go.sum
        # again by `go build`: `go mod verify` makes sure nobody changed them since.
        verify = [["{tool:go}", "mod", "verify"]] if locked else []
        tools = ["go"]
        if cgo:
            # Go splits CC on spaces (quotes respected): one word per argument is fine.
            env["CC"] = f"{{tool:zig}} cc -target {target.zig_triple}"
            env["ZIG_GLOBAL_CACHE_DIR"] = env["ZIG_LOCAL_CACHE_DIR"] = "{state}/zig-cache"
            tools.append("zig")
        return [
            Action(
                component=component.name,
                name="build",
                commands=[["@mkdir", "{work}/mod"], *copies, *verify, argv],
                outputs=outputs,
                inputs=inputs,
                scanned_dirs=scanned,
                cwd="{work}/mod",
                env=env,
                tools=tools,
                settings=dict(s),
                description=f"go build {component.name} ({target.goos}/{target.goarch})",
            )
        ]


    test_format = "go"

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """`go test -v ./...` in the same staged module the build uses (the needed components'
        outputs under ppm_deps/, so cgo links as the build does), offline against the locked
        modules. Only when the module has tests (*_test.go)."""
        (build,) = self.plan(component, ctx)
        tests, scanned = ctx.glob(component, list(_TESTS))
        if not tests:
            return []
        prefix = component.path.rstrip("/") + "/" if component.path not in ("", ".") else ""
        copies = [["@copy", f"{{src}}/{f[len(prefix):]}", f"{{work}}/mod/{f[len(prefix):]}"] for f in tests]
        argv = ["{tool:go}", "test", "-v", "-trimpath", "-buildvcs=false"]
        tags = strs(component, "tags", component.settings.get("tags", []))
        if tags:
            argv.append("-tags=" + ",".join(tags))
        commands = [*build.commands[:-1], *copies, test_command("test", [*argv, "./..."])]
        return [replace(build, name="test", commands=commands, outputs=[TEST_LOG], inputs=sorted({*build.inputs, *tests}),
                        scanned_dirs=sorted({*build.scanned_dirs, *scanned}), description=f"go test {component.name}")]


_TESTS = ("*_test.go", "**/*_test.go")


def _outputs(kind: str, stem: str, target: Target) -> list[str]:
    if kind == "executable":
        return [target.executable(stem)]
    lib = target.static_lib(stem) if kind == "c-archive" else target.shared_lib(stem)
    header = lib.rsplit(".", 1)[0] + ".h"  # go writes the cgo header beside the library
    return [lib, header]


BUILDER = GoBuilder
