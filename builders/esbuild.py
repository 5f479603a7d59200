"""TypeScript/JavaScript: one entry point bundled by esbuild into one minified file, plus what
esbuild writes beside it (the CSS the code imports, files a `file` loader copies) and the
component's static files (index.html, images) copied as they are: every one a declared output,
so the host embeds all of them.

esbuild's output depends only on its inputs and flags (no timestamps, no absolute paths
when run from the component's directory), so the bundle is byte-for-byte reproducible."""

from __future__ import annotations

import posixpath
import re

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
from ppm.core.manifest import Component

_FORMATS = ("iife", "cjs", "esm")
_PLATFORMS = ("browser", "node", "neutral")
_LOADERS = ("base64", "binary", "copy", "css", "dataurl", "empty", "file", "js", "json", "jsx", "text", "ts", "tsx")
# Loaders whose files esbuild writes out as files of their own (named by --asset-names).
_FILE_LOADERS = ("file", "copy")
_EXT = re.compile(r"^\.[A-Za-z0-9]+$")


class EsbuildBuilder(Builder):
    name = "esbuild"
    tools = ("esbuild",)
    settings = {
        "entry": Setting(str, "src/main.ts", "the entry point, relative to the component"),
        "sources": Setting(list, ["src/*", "package.json", "tsconfig.json"],
                           "files (relative to the component) whose contents feed the key"),
        "outfile": Setting(str, None, "the bundle's file name (default: <component>.js)"),
        "platform": Setting(str, None, f"one of {', '.join(_PLATFORMS)} (default: the target's)"),
        "format": Setting(str, None, f"one of {', '.join(_FORMATS)} (default: esbuild's for the platform)"),
        "es_target": Setting(str, "es2020", "the JavaScript language level to emit (esbuild --target)"),
        "minify": Setting(bool, True, "minify the bundle"),
        "external": Setting(list, [], "module names to leave out of the bundle"),
        "tests": Setting(list, ["src/*.test.ts", "test/*.ts", "tests/*.ts"],
                         "test files (node:test), each bundled by esbuild for node and run with `node --test`"),
        "loader": Setting(dict, {}, "file extension -> esbuild loader, e.g. { \".png\" = \"file\", \".svg\" = \"text\" }"),
        "static": Setting(str, "public", "a directory (relative to the component) whose files are copied next to the "
                                         "bundle as they are: index.html, images, fonts"),
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        s = component.settings
        entry = s.get("entry", "src/main.ts")
        patterns = strs(component, "sources", s.get("sources", []))
        # Test files are the test action's inputs, not the bundle's: editing one reruns only the tests.
        inputs, scanned = ctx.glob(component, patterns + [entry], exclude=strs(component, "tests", s.get("tests", [])))
        if join(component.path, entry) not in inputs:
            raise ManifestError(f"component {component.name!r}: entry point {join(component.path, entry)} does not exist",
                                hint="set `entry = \"src/index.ts\"` in its [components] table")
        lock = join(component.path, "package-lock.json")
        if lock not in inputs and (ctx.root / lock).is_file():
            inputs = sorted(inputs + [lock])  # the node_modules `ppm sync` installed from it
        platform = s.get("platform") or ctx.target.esbuild_platform
        if platform not in _PLATFORMS:
            raise ManifestError(f"components.{component.name}.platform: {platform!r} is not one of {', '.join(_PLATFORMS)}")
        outfile = output_name(component, "outfile", s.get("outfile") or f"{component.name}.js")
        if not re.fullmatch(r".+\.(js|mjs|cjs)", outfile):
            raise ManifestError(f"components.{component.name}.outfile: {outfile!r} must be a plain file name ending in .js")
        loaders = _loaders(component, s.get("loader", {}))
        argv = [
            "{tool:esbuild}",
            f"{{src}}/{entry}",
            "--bundle",
            f"--platform={platform}",
            f"--target={s.get('es_target', 'es2020')}",
            f"--outfile={{out}}/{outfile}",
            "--charset=utf8",
            "--legal-comments=none",
            "--log-level=warning",
        ]
        fmt = s.get("format")
        if fmt is not None:
            if fmt not in _FORMATS:
                raise ManifestError(f"components.{component.name}.format: {fmt!r} is not one of {', '.join(_FORMATS)}")
            argv.append(f"--format={fmt}")
        if s.get("minify", True):
            argv.append("--minify")
        argv += [f"--external:{m}" for m in strs(component, "external", s.get("external", []))]
        argv += [f"--loader:{ext}={loader}" for ext, loader in sorted(loaders.items())]
        outputs = [outfile]
        # CSS imported anywhere in the bundle comes out as <outfile stem>.css beside it.
        if any(f.endswith(".css") for f in inputs) or loaders.get(".css") == "css":
            outputs.append(outfile.rsplit(".", 1)[0] + ".css")
        assets = sorted({posixpath.basename(f) for f in inputs
                         if loaders.get(posixpath.splitext(f)[1]) in _FILE_LOADERS})
        if assets:
            argv.append("--asset-names=assets/[name]")  # no content hash: the names are declared outputs
            outputs += [f"assets/{a}" for a in assets]
        commands = [argv]
        static = s.get("static", "public")
        if static:
            if static.startswith("/") or ".." in static.split("/"):
                raise ManifestError(f"components.{component.name}.static: {static!r} must be a directory inside the component")
            if (ctx.root / component.path / static).is_dir():
                files, dirs = ctx.glob(component, [f"{static.rstrip('/')}/*"])
                base = join(component.path, static.rstrip("/")) + "/"
                for f in files:
                    rel = f[len(base):]
                    if rel in outputs:
                        raise ManifestError(f"component {component.name!r}: static file {f} has the name of a bundle output")
                    commands.append(["@copy", f"{{project}}/{f}", f"{{out}}/{rel}"])
                    outputs.append(rel)
                inputs = sorted(set(inputs) | set(files))
                scanned = sorted(set(scanned) | set(dirs))
        return [
            Action(
                component=component.name,
                name="bundle",
                commands=commands,
                outputs=outputs,
                inputs=inputs,
                scanned_dirs=scanned,
                env={"NO_COLOR": "1"},
                tools=list(self.tools),
                settings=dict(s),
                description=f"esbuild {component.name} ({platform})",
            )
        ]

    test_format = "tap"

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """Each test file bundled by esbuild for node (so TypeScript and imports resolve the way
        the bundle's do), then all of them run by `node --test` with its TAP reporter."""
        s = component.settings
        tests, scanned = ctx.glob(component, strs(component, "tests", s.get("tests", [])))
        if not tests:
            return []
        sources, _ = ctx.glob(component, strs(component, "sources", s.get("sources", [])))
        prefix = component.path.rstrip("/") + "/"
        commands: list[list[str]] = []
        bundles: list[str] = []
        for t in tests:
            rel = t[len(prefix):] if t.startswith(prefix) else t
            out = "{work}/" + rel.replace("/", "_").rsplit(".", 1)[0] + ".mjs"
            commands.append(["{tool:esbuild}", f"{{src}}/{rel}", "--bundle", "--platform=node", "--format=esm",
                             f"--outfile={out}", "--log-level=warning", "--sourcemap=inline"])
            bundles.append(out)
        # node is taken from PATH: it is not one of ppm's pinned toolchains (yet).
        commands.append(test_command("test", ["node", "--test", "--test-reporter=tap", *bundles]))
        return [Action(
            component=component.name, name="test", commands=commands, outputs=[TEST_LOG],
            inputs=sorted({*tests, *sources}), scanned_dirs=scanned, env={"NO_COLOR": "1"},
            tools=list(self.tools), settings=dict(s), description=f"node --test {component.name}",
        )]


def _loaders(component: Component, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ManifestError(f"components.{component.name}.loader: expected a table of \".ext\" = \"loader\"")
    for ext, loader in value.items():
        if not _EXT.match(ext):
            raise ManifestError(f"components.{component.name}.loader: {ext!r} is not a file extension like \".png\"")
        if loader not in _LOADERS:
            raise ManifestError(f"components.{component.name}.loader.{ext}: {loader!r} is not one of {', '.join(_LOADERS)}")
    return dict(value)


BUILDER = EsbuildBuilder
