"""The builder interface. A builder turns a component and a target into actions; it never
runs a process itself (the engine does, so caching, parallelism and remote execution are
written once)."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ppm import targets
from ppm.core.action import Action
from ppm.core.errors import ManifestError, ToolchainError
from ppm.core.manifest import Component
from ppm.targets import Target
from ppm.toolchains import Toolchain


@dataclass
class Setting:
    """One setting a builder accepts in `[components.X]`."""

    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    required: bool = False


@dataclass(frozen=True)
class Synced:
    """What `ppm sync` installed from ppm.lock for the component being planned. Filled in by
    the planner (ppm.build.plan) from the sync state: builders never read state files, so
    they stay pure functions of their context. Add a field when a builder needs one."""

    cargo_args: tuple[str, ...] = ()  # extra `cargo build` arguments: offline, from the vendored crates
    python_paths: tuple[str, ...] = ()  # {project}-relative site directories of locked PyPI packages
    go_env: tuple[tuple[str, str], ...] = ()  # GOPROXY/GOFLAGS/... for the file:// module tree synced from ppm.lock


@dataclass
class PlanContext:
    """What a builder may look at while planning."""

    root: Path  # project root (absolute), for globbing only
    target: Target
    deps: dict[str, list[str]]  # needed component -> its outputs (relative to {dep:NAME})
    toolchains: dict[str, Toolchain] = field(default_factory=dict)
    synced: Synced = field(default_factory=Synced)
    # A remote executor may run this target's actions on a machine of its own (make_plan's
    # `elsewhere`): a builder that builds only for its own machine plans for it anyway.
    native_elsewhere: bool = False

    def glob(self, component: Component, patterns: list[str], exclude: list[str] | tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
        """Project-relative files under the component matching any pattern (fnmatch over the
        path relative to the component, `**` crosses directories), and the directories that
        were scanned (their listings feed the action key, so an added file reruns it)."""
        base = self.root / component.path
        if not base.is_dir():
            raise ManifestError(f"component {component.name!r}: source directory {component.path!r} does not exist")
        files: list[str] = []
        dirs: list[str] = []
        skip = {"target", "node_modules", ".git", ".ppm", "dist", "build", "__pycache__", "zig-cache", ".zig-cache", "zig-out"}
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, base)
            dirs.append(_rel(self.root, dirpath))
            for fn in sorted(filenames):
                rel = fn if rel_dir == "." else f"{rel_dir}/{fn}"
                if any(_match(rel, p) for p in patterns) and not any(_match(rel, p) for p in exclude):
                    _check_utf8(os.path.join(dirpath, fn))
                    files.append(_rel(self.root, os.path.join(dirpath, fn)))
        return sorted(files), sorted(dirs)


def _check_utf8(path: str) -> None:
    """Action keys and commands name files in UTF-8: a name the file system holds in another
    encoding is refused here, by its path, rather than deep inside the engine."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise ManifestError(f"{shown}: the file name is not valid UTF-8", hint="rename the file (ppm names files in UTF-8)") from None


_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}")


def output_name(component: Component, key: str, value: str | None) -> str:
    """An output's file name from a setting (`lib`, `exe`, `outfile`): one plain file name, so it
    cannot place an output outside the action's output directory ('../../x', '/abs', 'a/b')."""
    name = value or component.name
    if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name) or ".." in name:
        raise ManifestError(f"components.{component.name}.{key} = {name!r}: an output name is one file name "
                            "of letters, digits, '.', '_', '+' and '-' (no '/', no '..')")
    return name


def strs(component: Component, key: str, value: list) -> list[str]:
    """A list setting that must hold strings only."""
    if not all(isinstance(v, str) for v in value):
        raise ManifestError(f"components.{component.name}.{key}: expected a list of strings")
    return list(value)


def join(base: str, rel: str) -> str:
    """A component-relative path made project-relative (posix)."""
    return rel if base in ("", ".") else f"{base}/{rel}"


class NativeOnly(ToolchainError):
    """A builder that builds only for the machine it runs on was asked for another target.
    A multi-target build names it in one line and builds everything else."""


def require_host(builder: str, ctx: PlanContext, component: str = "") -> None:
    """For toolchains that build only for the machine they run on (PyInstaller, Nuitka, native-image)."""
    host = targets.host()
    if ctx.target != host and not ctx.native_elsewhere:
        who = f"component {component!r} ({builder})" if component else builder
        raise NativeOnly(f"{who} cannot be built for {ctx.target.name} from this {host.name} machine: "
                         f"{builder} builds only for the machine it runs on; a {ctx.target.name} machine "
                         f"(or, with --remote-executor, a worker of that platform) would build it",
                         hint=f"build the {ctx.target.name} bundle on a {ctx.target.name} machine")


def _rel(root: Path, p: str) -> str:
    return Path(os.path.relpath(p, root)).as_posix()


def _match(rel: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(rel, pattern):
        return True
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(rel, pattern[3:])
    return False


class Builder:
    """Subclass, set `name`, `settings` and `tools`, implement `plan`, register in builders/__init__.py."""

    name: ClassVar[str]
    schema: ClassVar[int] = 1  # bump when the actions a builder emits change meaning
    tools: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[dict[str, Setting]] = {}

    @classmethod
    def tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        """The toolchains this component needs for `target` (default: all of `tools`)."""
        return cls.tools

    @classmethod
    def optional_tools_for(cls, component: Component, target: Target) -> tuple[str, ...]:
        """Toolchains looked up for `target` but not required: which one is used is decided
        while planning (cargo's build-std for a target without an installed std)."""
        return ()

    def plan(self, component: Component, ctx: PlanContext) -> list[Action]:
        """The component's actions for ctx.target. The last action's outputs are the
        component's outputs, which components that need it receive."""
        raise NotImplementedError

    # How ppm.build.testing reads the runner's output: "cargo", "zig", "tap", "pytest", "go",
    # or "exit" (one case per action, passed when the command exits 0).
    test_format: ClassVar[str] = "exit"

    def dev_run(self, component: Component, ctx: PlanContext) -> DevRun | None:
        """For a host that can run from its sources (`ppm dev` then skips its bundle step).
        Default None: the dev loop builds the component and runs its executable output."""
        return None

    def plan_tests(self, component: Component, ctx: PlanContext) -> list[Action]:
        """The component's test actions (for the host target; default: none). Each may need
        the component's own actions ("NAME:ACTION") and the components it needs; build the
        command that runs the tests with `test_action`, so the engine caches a passing run
        and `ppm test` finds the runner's output of a failing one."""
        return []


@dataclass(frozen=True)
class DevRun:
    """How `ppm dev` runs a host from its sources instead of its bundle. Words may hold {src},
    {project}, {stage} (a directory the loop fills with `stage`'s @write/@copy commands before
    each start), {dep:NAME} (a needed component's fresh outputs) and {tool:NAME}."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    stage: tuple[tuple[str, ...], ...] = ()


# The test runner's output goes to {state}/tests/<action>.log, which outlives a failure (a
# failing action's {out} is discarded), and is copied to the cached output test.log.
_TEST_WRAPPER = ('log=$1; out=$2; shift 2; mkdir -p "${log%/*}"; "$@" >"$log" 2>&1; rc=$?; '
                 'cp "$log" "$out"; exit $rc')
TEST_LOG = "test.log"


def test_log_path(name: str) -> str:
    """Where the runner's output of test action `name` stays, relative to {state}."""
    return f"tests/{name.replace('/', '_')}.log"


def test_command(name: str, argv: list[str]) -> list[str]:
    """`argv` (the test runner) wrapped so its output is kept whether it passes or fails."""
    return ["sh", "-c", _TEST_WRAPPER, "ppm-test", f"{{state}}/{test_log_path(name)}", f"{{out}}/{TEST_LOG}", *argv]
