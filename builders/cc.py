"""C with gcc or clang: one compile action per source file, one link action.

Cross-compiling (target other than the host) goes through `zig cc -target <zig triple>`, which
carries the libc headers and linkers for every target (and the glibc floor for Linux);
`compiler = "zig"` uses it for the host too. A needed component's static libraries are linked
in, and its outputs are on the include and (with zig's clang) the `#embed` path."""

from __future__ import annotations

from ppm import targets
from ppm.builders.base import (
    TEST_LOG,
    Builder,
    PlanContext,
    Setting,
    output_name,
    test_command,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.manifest import Component
from ppm.targets import Target

KINDS = ("shared", "static", "executable")


class CcBuilder(Builder):
    name = "cc"
    schema = 1
    tools = ("cc",)
    settings = {
        "sources": Setting(list, ["src/*.c"], "globs of C sources, relative to the component"),
        "include": Setting(list, ["include"], "include directories, relative to the component"),
        "kind": Setting(str, "shared", "shared, static or executable"),
        "lib": Setting(str, None, "output name (default: the component's name)"),
        "cflags": Setting(list, ["-O2"], "flags for every compile"),
        "ldflags": Setting(list, [], "flags for the link"),
        "tests": Setting(list, ["tests/*.c"], "test programs (each with its own main), linked against the component's objects"),
        "compiler": Setting(str, "auto", "auto (the machine's cc for the host, zig cc for other targets) or zig "
                                         "(zig cc for every target: same glibc floor everywhere, C23 #embed)"),
    }

    @classmethod
    def tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        return ("cc",) if target == targets.host() and component.settings.get("compiler", "auto") != "zig" else ("zig",)

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        kind = s["kind"]
        if kind not in KINDS:
            raise ManifestError(f"components.{component.name}.kind must be one of {', '.join(KINDS)}, not {kind!r}")
        sources, dirs = ctx.glob(component, list(s["sources"]))
        if not sources:
            raise ManifestError(f"component {component.name!r}: no C source matches {s['sources']} under {component.path}/")
        headers, _ = ctx.glob(component, ["*.h", "**/*.h"])
        compiler = s.get("compiler", "auto")
        if compiler not in ("auto", "zig"):
            raise ManifestError(f"components.{component.name}.compiler: {compiler!r} is not one of auto, zig")
        if ctx.target == targets.host() and compiler == "auto":
            cc, tool = ["{tool:cc}"], "cc"
        else:
            cc, tool = ["{tool:zig}", "cc", "-target", ctx.target.zig_triple], "zig"
        incs = [f"-I{{src}}/{d}" for d in s["include"]]
        for dep in component.needs:
            incs.append(f"-I{{dep:{dep}}}")
            if tool == "zig":
                incs.append(f"--embed-dir={{dep:{dep}}}")  # `#embed <ui.js>` finds a needed output
        archives = [f"{{dep:{d}}}/{f}" for d in sorted(ctx.deps) for f in sorted(ctx.deps[d]) if f.endswith(".a")]
        pic = ["-fPIC"] if kind != "executable" else []
        prefix = component.path.rstrip("/") + "/"
        actions: list[Action] = []
        objects: list[str] = []
        for src in sources:
            rel = src[len(prefix):] if src.startswith(prefix) else src
            obj = rel.replace("/", "_").rsplit(".", 1)[0] + ".o"
            name = f"compile-{rel}"
            actions.append(Action(
                component=component.name, name=name,
                commands=[[*cc, "-c", *pic, *s["cflags"], *incs, f"{{src}}/{rel}", "-o", f"{{out}}/{obj}"]],
                outputs=[obj], inputs=sorted([src, *headers]), tools=[tool],
                settings={"cflags": s["cflags"], "include": s["include"], "compiler": compiler},
                description=f"cc {component.name}/{rel}",
            ))
            objects.append(f"{{dep:{component.name}:{name}}}/{obj}")
        stem = output_name(component, "lib", s.get("lib"))
        if kind == "shared":
            out, link = ctx.target.shared_lib(stem), [*cc, "-shared", "-o", f"{{out}}/{ctx.target.shared_lib(stem)}", *objects, *archives, *s["ldflags"]]
        elif kind == "executable":
            out, link = ctx.target.executable(stem), [*cc, "-o", f"{{out}}/{ctx.target.executable(stem)}", *objects, *archives, *s["ldflags"]]
        else:
            out = f"lib{stem}.a"
            link = ["{tool:zig}", "ar", "rcs", f"{{out}}/{out}", *objects] if tool == "zig" else ["ar", "rcs", f"{{out}}/{out}", *objects]
        actions.append(Action(
            component=component.name, name="link", commands=[link], outputs=[out], tools=[tool],
            needs=[f"{component.name}:{a.name}" for a in actions], scanned_dirs=dirs,
            settings={"kind": kind, "lib": stem, "ldflags": s["ldflags"]},
            description=f"link {component.name} ({kind})",
        ))
        return actions

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """Each declared test source compiled, linked with the component's objects and run: it
        passes when it exits 0 (one test case per program)."""
        s = component.settings
        tests, dirs = ctx.glob(component, list(s.get("tests", [])))
        if not tests:
            return []
        sources, _ = ctx.glob(component, list(s["sources"]))
        headers, _ = ctx.glob(component, ["*.h", "**/*.h"])
        incs = [f"-I{{src}}/{d}" for d in s["include"]] + [f"-I{{dep:{d}}}" for d in component.needs]
        prefix = component.path.rstrip("/") + "/"
        compiles = []
        for src in sources:
            rel = src[len(prefix):] if src.startswith(prefix) else src
            obj = rel.replace("/", "_").rsplit(".", 1)[0] + ".o"
            compiles.append((f"compile-{rel}", obj))
        objects = [f"{{dep:{component.name}:{name}}}/{obj}" for name, obj in compiles]
        actions = []
        for test in tests:
            rel = test[len(prefix):] if test.startswith(prefix) else test
            name = f"test-{rel}"
            exe = "{work}/test"
            actions.append(Action(
                component=component.name, name=name,
                commands=[["{tool:cc}", *s["cflags"], *incs, f"{{src}}/{rel}", *objects, "-o", exe, *s["ldflags"]],
                          test_command(name, [exe])],
                outputs=[TEST_LOG], inputs=sorted([test, *headers]), tools=["cc"], scanned_dirs=dirs,
                needs=[f"{component.name}:{n}" for n, _ in compiles],
                settings={"cflags": s["cflags"], "include": s["include"], "ldflags": s["ldflags"]},
                description=f"cc test {component.name}/{rel}",
            ))
        return actions


BUILDER = CcBuilder
