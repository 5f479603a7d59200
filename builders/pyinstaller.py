"""Python: the host script frozen by PyInstaller into one executable, with every needed
component's outputs embedded under ppm_deps/<component>/ and a ppm_components.json that
says what was embedded and which optional component was skipped.

PyInstaller freezes the Python it runs on, so the `pyinstaller` toolchain must be one for
the target (PyInstaller cannot cross-compile)."""

from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING

from ppm.builders.base import Builder
from ppm.builders.base import PlanContext
from ppm.builders.base import Setting
from ppm.builders.base import join
from ppm.builders.base import require_host
from ppm.builders.base import strs
from ppm.core.action import Action
from ppm.core.errors import ManifestError

if TYPE_CHECKING:
    from ppm.core.manifest import Component
    from ppm.targets import Target

DEPS_DIR = "ppm_deps"  # where embedded outputs live inside the bundle
COMPONENTS_FILE = "ppm_components.json"
# A fixed time for everything PyInstaller stamps (Windows PE headers among them): 1980-01-01,
# the earliest time a zip file can hold.
SOURCE_DATE_EPOCH = "315532800"


class PyinstallerBuilder(Builder):
    name = "pyinstaller"
    tools = ("pyinstaller",)
    settings = {
        "script": Setting(str, "main.py", "the entry script, relative to the component"),
        "sources": Setting(list, ["**/*.py"], "files (relative to the component) whose contents feed the key"),
        "exe": Setting(str, None, "the executable's name (default: the component's name)"),
        "hidden_imports": Setting(list, [], "modules PyInstaller cannot see being imported"),
        "excludes": Setting(list, [], "modules to leave out of the bundle"),
        "windowed": Setting(bool, False, "no console window (Windows, macOS)"),
        "datas": Setting(list, [], "globs (relative to the component) of files embedded as they are, at the same "
                                   "relative path under the bundle's directory (sys._MEIPASS): templates, static files"),
    }

    def plan(self, component: "Component", ctx: PlanContext) -> list[Action]:
        require_host("PyInstaller", ctx, component.name)
        s = component.settings
        script = s.get("script", "main.py")
        inputs, scanned = ctx.glob(component, strs(component, "sources", s.get("sources", [])) + [script])
        if join(component.path, script) not in inputs:
            raise ManifestError(f"component {component.name!r}: entry script {join(component.path, script)} does not exist",
                                hint="set `script = \"path/to/main.py\"` in its [components] table")
        exe = s.get("exe") or component.name
        target = ctx.target

        embedded = {name: sorted(ctx.deps[name]) for name in sorted(ctx.deps)}
        # An optional component whose toolchain was missing is not in ctx.deps: say so in the
        # bundle, so the app can tell "skipped at build time" from "broken".
        skipped = sorted(set(component.needs) - set(ctx.deps))
        listing = {"app": component.name, "embedded": embedded, "skipped": skipped, "target": target.name}

        argv = [
            "{tool:pyinstaller}",
            "--onefile",
            "--noconfirm",
            # No --clean: {work} starts empty anyway, and --clean would also wipe the binary
            # cache kept in {state} (keyed by content, so it is safe to keep).
            "--log-level", "WARN",
            "--name", exe,
            "--distpath", "{out}",
            "--workpath", "{work}/build",
            "--specpath", "{work}",
            "--paths", "{src}",
            "--add-data", f"{{work}}/{COMPONENTS_FILE}:.",
        ]
        # Third-party packages `ppm sync` installed from ppm.lock (pip --require-hashes).
        from ppm.lockfile.sync import python_paths

        for site in python_paths(ctx.root, component.name):
            argv += ["--paths", site]
        req = join(component.path, "requirements-locked.txt")
        if python_paths(ctx.root, component.name) and req not in inputs and (ctx.root / req).is_file():
            inputs = sorted(inputs + [req])
        for name, files in embedded.items():
            for f in files:
                dest = posixpath.join(DEPS_DIR, name, posixpath.dirname(f)).rstrip("/")
                kind = "--add-binary" if _is_binary(f, target) else "--add-data"
                argv += [kind, f"{{dep:{name}}}/{f}:{dest}"]
        datas, data_dirs = _datas(component, ctx, strs(component, "datas", s.get("datas", [])))
        prefix = component.path.rstrip("/") + "/" if component.path not in ("", ".") else ""
        for f in datas:
            rel = f[len(prefix):]
            argv += ["--add-data", f"{{src}}/{rel}:{posixpath.dirname(rel) or '.'}"]
        inputs = sorted(set(inputs) | set(datas))
        scanned = sorted(set(scanned) | set(data_dirs))
        for m in strs(component, "hidden_imports", s.get("hidden_imports", [])):
            argv += ["--hidden-import", m]
        for m in strs(component, "excludes", s.get("excludes", [])):
            argv += ["--exclude-module", m]
        if s.get("windowed"):
            argv.append("--windowed")
        argv.append(f"{{src}}/{script}")

        return [
            Action(
                component=component.name,
                name="bundle",
                commands=[
                    ["@write", f"{{work}}/{COMPONENTS_FILE}", json.dumps(listing, indent=2, sort_keys=True) + "\n"],
                    argv,
                ],
                outputs=[target.executable(exe)],
                inputs=inputs,
                scanned_dirs=scanned,
                env={
                    "PYINSTALLER_CONFIG_DIR": "{state}/pyinstaller",
                    "PYTHONHASHSEED": "0",
                    "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
                    "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ in the source tree
                },
                tools=list(self.tools),
                settings=dict(s),
                description=f"pyinstaller {exe} ({target.name})",
            )
        ]


def _datas(component: "Component", ctx: PlanContext, patterns: list[str]) -> tuple[list[str], list[str]]:
    """The files the `datas` globs name; a glob that names nothing is a mistake worth a message."""
    for p in patterns:
        if p.startswith("/") or ".." in p.split("/") or ":" in p:
            raise ManifestError(f"components.{component.name}.datas: {p!r} must be a glob inside the component (no '..', no ':')")
    if not patterns:
        return [], []
    files, dirs = ctx.glob(component, patterns)
    for p in patterns:
        if not any(_fnmatch_rel(f, component.path, p) for f in files):
            raise ManifestError(f"components.{component.name}.datas: {p!r} matches no file under {component.path}/")
    return files, dirs


def _fnmatch_rel(f: str, base: str, pattern: str) -> bool:
    import fnmatch

    rel = f[len(base.rstrip("/")) + 1:] if base not in ("", ".") else f
    return fnmatch.fnmatchcase(rel, pattern) or (pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:]))


def _is_binary(path: str, target: "Target") -> bool:
    """Shared libraries and executables go in with --add-binary (PyInstaller keeps them
    executable and collects what they link against); everything else is data."""
    name = posixpath.basename(path)
    if name.endswith(target.shared_lib_suffix) or (target.exe_suffix and name.endswith(target.exe_suffix)):
        return True
    return "." not in name  # a Unix executable




BUILDER = PyinstallerBuilder
