"""Java: sources compiled by javac, then ahead of time by GraalVM native-image into a native
executable that needs no JVM at run time.

native-image only builds for the machine it runs on and comes with a GraalVM JDK (it is on
no package registry), so components using this builder are usually `optional = true`."""

from __future__ import annotations

from ppm.builders.base import (
    Builder,
    PlanContext,
    Setting,
    output_name,
    require_host,
    strs,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.manifest import Component


class GraalvmBuilder(Builder):
    name = "graalvm"
    tools = ("native-image", "javac")
    settings = {
        "main": Setting(str, None, "the main class, e.g. \"com.example.Main\"", required=True),
        "sources": Setting(list, ["**/*.java"], "Java sources (relative to the component) to compile"),
        "resources": Setting(list, [], "other files (relative to the component) whose contents feed the key"),
        "exe": Setting(str, None, "the executable's name (default: the component's name)"),
        "release": Setting(int, 17, "the Java release to compile for (javac --release)"),
        "native_image_args": Setting(list, [], "extra arguments for native-image"),
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        require_host("GraalVM native-image", ctx, component.name)
        s = component.settings
        sources, scanned = ctx.glob(component, strs(component, "sources", s.get("sources", [])))
        java = [f for f in sources if f.endswith(".java")]
        if not java:
            raise ManifestError(f"component {component.name!r}: no Java sources in {component.path}/",
                                hint="put them under src/ or set `sources = [...]`")
        extra, _ = ctx.glob(component, strs(component, "resources", s.get("resources", [])))
        exe = output_name(component, "exe", s.get("exe"))
        out_file = ctx.target.executable(exe)
        javac = ["{tool:javac}", "--release", str(s.get("release", 17)), "-encoding", "UTF-8", "-nowarn",
                 "-d", "{work}/classes"] + [f"{{src}}/{_rel(component, f)}" for f in java]
        native_image = [
            "{tool:native-image}",
            "--no-fallback",            # fail rather than emit a stub that needs a JVM
            "-march=compatibility",     # run on any CPU of the target's architecture, not just this one
            "-cp", "{work}/classes",
            "-o", f"{{out}}/{exe}",     # native-image adds the target's .exe itself
            *strs(component, "native_image_args", s.get("native_image_args", [])),
            s["main"],
        ]
        return [
            Action(
                component=component.name,
                name="native-image",
                commands=[["@mkdir", "{work}/classes"], javac, native_image],
                outputs=[out_file],
                inputs=sorted(set(sources) | set(extra)),
                scanned_dirs=scanned,
                # native-image drops reports and temporary files in its working directory.
                cwd="{work}",
                tools=list(self.tools),
                settings=dict(s),
                description=f"native-image {component.name} ({ctx.target.name})",
            )
        ]


def _rel(component: Component, project_path: str) -> str:
    """A project-relative path, relative to the component's directory instead."""
    prefix = "" if component.path in ("", ".") else component.path + "/"
    return project_path[len(prefix):]


BUILDER = GraalvmBuilder
