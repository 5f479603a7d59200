"""Python: the host script compiled by Nuitka into one executable (`--onefile`): an alternative
to PyInstaller with the same layout inside the bundle (needed outputs under
ppm_deps/<component>/, ppm_components.json, the `datas` files at their relative paths), so a
host runs unchanged under either.

Nuitka compiles to C for the interpreter that runs it and the machine it runs on: like
PyInstaller, it builds only for its own platform."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ppm.builders.base import Builder, PlanContext, Setting, join, require_host, strs
from ppm.builders.pyinstaller import COMPONENTS_FILE, DEPS_DIR, _datas
from ppm.core.action import Action
from ppm.core.errors import ManifestError

if TYPE_CHECKING:
    from ppm.core.manifest import Component

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class NuitkaBuilder(Builder):
    name = "nuitka"
    tools = ("nuitka",)
    settings = {
        "script": Setting(str, "main.py", "the entry script, relative to the component"),
        "sources": Setting(list, ["**/*.py"], "files (relative to the component) whose contents feed the key"),
        "exe": Setting(str, None, "the executable's name (default: the component's name)"),
        "datas": Setting(list, [], "globs (relative to the component) of files embedded at the same relative path"),
        "include_packages": Setting(list, [], "packages Nuitka cannot see being imported (--include-package)"),
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        require_host("Nuitka", ctx, component.name)
        s = component.settings
        script = s.get("script", "main.py")
        inputs, scanned = ctx.glob(component, [*strs(component, "sources", s.get("sources", [])), script])
        if join(component.path, script) not in inputs:
            raise ManifestError(f"component {component.name!r}: entry script {join(component.path, script)} does not exist",
                                hint="set `script = \"path/to/main.py\"` in its [components] table")
        exe = s.get("exe") or component.name
        if not _NAME.match(exe):
            raise ManifestError(f"components.{component.name}.exe: {exe!r} must be a plain file name")
        target = ctx.target
        out = target.executable(exe)
        embedded = {name: sorted(ctx.deps[name]) for name in sorted(ctx.deps)}
        skipped = sorted(set(component.needs) - set(ctx.deps))
        listing = {"app": component.name, "embedded": embedded, "skipped": skipped, "target": target.name}

        argv = [
            "{tool:nuitka}", "--onefile", "--quiet", "--no-progressbar", "--remove-output",
            "--output-dir={work}/build", f"--output-filename={out}",
            f"--include-data-files={{work}}/{COMPONENTS_FILE}={COMPONENTS_FILE}",
        ]
        for name, files in embedded.items():
            for f in files:
                argv.append(f"--include-data-files={{dep:{name}}}/{f}={DEPS_DIR}/{name}/{f}")
        datas, data_dirs = _datas(component, ctx, strs(component, "datas", s.get("datas", [])))
        prefix = component.path.rstrip("/") + "/" if component.path not in ("", ".") else ""
        for f in datas:
            rel = f[len(prefix):]
            argv.append(f"--include-data-files={{src}}/{rel}={rel}")
        argv += [f"--include-package={p}" for p in strs(component, "include_packages", s.get("include_packages", []))]
        argv.append(f"{{src}}/{script}")
        return [
            Action(
                component=component.name,
                name="bundle",
                commands=[
                    ["@write", f"{{work}}/{COMPONENTS_FILE}", json.dumps(listing, indent=2, sort_keys=True) + "\n"],
                    argv,
                    ["@copy", f"{{work}}/build/{out}", f"{{out}}/{out}"],
                ],
                outputs=[out],
                inputs=sorted(set(inputs) | set(datas)),
                scanned_dirs=sorted(set(scanned) | set(data_dirs)),
                env={
                    # Nuitka's compiled-C cache: content-keyed, kept between runs, never in the key.
                    "NUITKA_CACHE_DIR": "{state}/nuitka-cache",
                    "PYTHONHASHSEED": "0",
                    "PYTHONDONTWRITEBYTECODE": "1",
                },
                tools=list(self.tools),
                settings=dict(s),
                description=f"nuitka {exe} ({target.name})",
            )
        ]


BUILDER = NuitkaBuilder
