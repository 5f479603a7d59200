"""Python: the host script compiled by Nuitka into one executable (`--onefile`): an alternative
to PyInstaller with the same layout inside the bundle (needed outputs under
ppm_deps/<component>/, ppm_components.json, the `datas` files at their relative paths), so a
host runs unchanged under either.

Nuitka compiles to C for the interpreter that runs it and the machine it runs on: like
PyInstaller, it builds only for its own platform."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ppm.builders.base import (
    Builder,
    PlanContext,
    Setting,
    output_name,
    require_host,
    strs,
)
from ppm.builders.pyinstaller import (
    COMPONENTS_FILE,
    DEPS_DIR,
    data_files,
    entry_script,
    listing_of,
    relative,
)
from ppm.core.action import Action

if TYPE_CHECKING:
    from ppm.core.manifest import Component

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
        script, inputs, scanned = entry_script(component, ctx)
        exe = output_name(component, "exe", s.get("exe"))
        target = ctx.target
        out = target.executable(exe)
        embedded, listing = listing_of(component, ctx)

        argv = [
            "{tool:nuitka}", "--onefile", "--quiet", "--no-progressbar", "--remove-output",
            "--output-dir={work}/build", f"--output-filename={out}",
            f"--include-data-files={{work}}/{COMPONENTS_FILE}={COMPONENTS_FILE}",
        ]
        for name, files in embedded.items():
            for f in files:
                argv.append(f"--include-data-files={{dep:{name}}}/{f}={DEPS_DIR}/{name}/{f}")
        datas, data_dirs = data_files(component, ctx)
        argv += [f"--include-data-files={{src}}/{rel}={rel}" for rel in relative(component, datas)]
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
