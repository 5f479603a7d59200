"""Python: the host script frozen by PyInstaller into one executable, with every needed
component's outputs embedded under ppm_deps/<component>/ and a ppm_components.json that
says what was embedded and which optional component was skipped.

PyInstaller freezes the Python it runs on, so the `pyinstaller` toolchain must be one for
the target (PyInstaller cannot cross-compile)."""

from __future__ import annotations

import json
import posixpath

from ppm.builders.base import (
    TEST_LOG,
    Builder,
    DevRun,
    PlanContext,
    Setting,
    join,
    output_name,
    require_host,
    strs,
    test_command,
)
from ppm.core.action import Action
from ppm.core.errors import ManifestError
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
        "tests": Setting(list, ["tests/test_*.py", "tests/*_test.py"], "pytest files, relative to the component"),
        "datas": Setting(list, [], "globs (relative to the component) of files embedded as they are, at the same "
                                   "relative path under the bundle's directory (sys._MEIPASS): templates, static files"),
    }

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        require_host("PyInstaller", ctx, component.name)
        s = component.settings
        # Test files are the test action's inputs, not the bundle's: editing one reruns only the tests.
        script, inputs, scanned = entry_script(component, ctx, exclude=strs(component, "tests", s.get("tests", [])))
        exe = output_name(component, "exe", s.get("exe"))
        target = ctx.target

        embedded, listing = listing_of(component, ctx)

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
        for site in ctx.synced.python_paths:
            argv += ["--paths", site]
        req = join(component.path, "requirements-locked.txt")
        if ctx.synced.python_paths and req not in inputs and (ctx.root / req).is_file():
            inputs = sorted(inputs + [req])
        for name, files in embedded.items():
            for f in files:
                dest = posixpath.join(DEPS_DIR, name, posixpath.dirname(f)).rstrip("/")
                kind = "--add-binary" if _is_binary(f, target) else "--add-data"
                argv += [kind, f"{{dep:{name}}}/{f}:{dest}"]
        datas, data_dirs = data_files(component, ctx)
        for rel in relative(component, datas):
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

    test_format = "pytest"

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """pytest on the host's sources, with the needed components' fresh outputs laid out as
        the bundle lays them out (PPM_BUNDLE_DIR), on the Python PyInstaller would freeze."""
        s = component.settings
        tests, scanned = ctx.glob(component, strs(component, "tests", s.get("tests", [])))
        if not tests:
            return []
        inputs, _ = ctx.glob(component, strs(component, "sources", s.get("sources", [])))
        embedded, listing = listing_of(component, ctx)
        commands = stage_commands("{work}/bundle", embedded, listing)
        tc = ctx.toolchains.get("pyinstaller")
        # The interpreter PyInstaller runs on (its path feeds the key: a cache entry is only
        # shared between machines with the same interpreter path).
        python = tc.argv[0] if tc is not None and tc.argv else "python3"
        prefix = component.path.rstrip("/") + "/"
        rels = [t[len(prefix):] if t.startswith(prefix) else t for t in tests]
        commands.append(test_command("test", [python, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                                              "--color=no", *rels]))
        return [Action(
            component=component.name, name="test", commands=commands, outputs=[TEST_LOG],
            inputs=sorted({*inputs, *tests}), scanned_dirs=scanned,
            # The host's sources first, then the PyPI packages `ppm sync` installed from ppm.lock.
            env={"PPM_BUNDLE_DIR": "{work}/bundle", "PYTHONDONTWRITEBYTECODE": "1",
                 "PYTHONPATH": ":".join(["{src}", *(f"{{project}}/{p}" for p in ctx.synced.python_paths)])},
            tools=list(self.tools), settings=dict(s), description=f"pytest {component.name}",
        )]


    def dev_run(self, component: Component, ctx: PlanContext) -> DevRun:
        """The script on the Python PyInstaller runs on, the needed outputs laid out under
        {stage} as the bundle holds them: an edit restarts the host in well under a second."""
        embedded, listing = listing_of(component, ctx)
        tc = ctx.toolchains.get("pyinstaller")
        python = tc.argv[0] if tc is not None and tc.argv else "python3"
        script = component.settings.get("script", "main.py")
        path = ":".join(["{src}", *(f"{{project}}/{p}" for p in ctx.synced.python_paths)])
        return DevRun(argv=(python, f"{{src}}/{script}"),
                      env=(("PPM_BUNDLE_DIR", "{stage}"), ("PYTHONPATH", path), ("PYTHONDONTWRITEBYTECODE", "1"),
                           ("PYTHONUNBUFFERED", "1")),
                      stage=tuple(tuple(c) for c in stage_commands("{stage}", embedded, listing)))


def listing_of(component: Component, ctx: PlanContext) -> tuple[dict[str, list[str]], dict]:
    """What the bundle embeds (component -> its files) and ppm_components.json's content."""
    embedded = {name: sorted(ctx.deps[name]) for name in sorted(ctx.deps)}
    # An optional component whose toolchain was missing is not in ctx.deps: say so in the
    # bundle, so the app can tell "skipped at build time" from "broken".
    skipped = sorted(set(component.needs) - set(ctx.deps))
    listing = {"app": component.name, "embedded": embedded, "skipped": skipped, "target": ctx.target.name}
    return embedded, listing


def stage_commands(dest: str, embedded: dict[str, list[str]], listing: dict) -> list[list[str]]:
    """Engine commands that lay the needed outputs out under `dest` as the bundle holds them,
    so the host runs from its sources (tests, `ppm dev`) as it runs frozen."""
    cmds = [["@write", f"{dest}/{COMPONENTS_FILE}", json.dumps(listing, indent=2, sort_keys=True) + "\n"]]
    for name, files in embedded.items():
        for f in files:
            cmds.append(["@copy", f"{{dep:{name}}}/{f}", f"{dest}/{DEPS_DIR}/{name}/{f}"])
    return cmds


def entry_script(component: Component, ctx: PlanContext, *, exclude: list[str] | None = None) -> tuple[str, list[str], list[str]]:
    """A Python host's entry script (`script`) and the files and directories its `sources` globs
    name (the script among them), or a message when the script does not exist."""
    s = component.settings
    script = s.get("script", "main.py")
    inputs, scanned = ctx.glob(component, [*strs(component, "sources", s.get("sources", [])), script],
                               exclude=exclude or [])
    if join(component.path, script) not in inputs:
        raise ManifestError(f"component {component.name!r}: entry script {join(component.path, script)} does not exist",
                            hint="set `script = \"path/to/main.py\"` in its [components] table")
    return script, inputs, scanned


def relative(component: Component, files: list[str]) -> list[str]:
    """Project-relative files as paths relative to the component."""
    prefix = component.path.rstrip("/") + "/" if component.path not in ("", ".") else ""
    return [f[len(prefix):] for f in files]


def data_files(component: Component, ctx: PlanContext) -> tuple[list[str], list[str]]:
    """The files the `datas` globs name; a glob that names nothing is a mistake worth a message."""
    patterns = strs(component, "datas", component.settings.get("datas", []))
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


def _is_binary(path: str, target: Target) -> bool:
    """Shared libraries and executables go in with --add-binary (PyInstaller keeps them
    executable and collects what they link against); everything else is data."""
    name = posixpath.basename(path)
    if name.endswith(target.shared_lib_suffix) or (target.exe_suffix and name.endswith(target.exe_suffix)):
        return True
    return "." not in name  # a Unix executable


BUILDER = PyinstallerBuilder
