"""The builder interface. A builder turns a component and a target into actions; it never
runs a process itself (the engine does, so caching, parallelism and remote execution are
written once)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.errors import ToolchainError

if TYPE_CHECKING:
    from ppm.core.manifest import Component
    from ppm.toolchains import Toolchain
    from ppm.targets import Target


@dataclass
class Setting:
    """One setting a builder accepts in `[components.X]`."""

    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    required: bool = False


@dataclass
class PlanContext:
    """What a builder may look at while planning."""

    root: Path  # project root (absolute), for globbing only
    target: "Target"
    deps: dict[str, list[str]]  # needed component -> its outputs (relative to {dep:NAME})
    toolchains: dict[str, "Toolchain"] = field(default_factory=dict)

    def glob(self, component: "Component", patterns: list[str], exclude: list[str] = ()) -> tuple[list[str], list[str]]:
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
                    files.append(_rel(self.root, os.path.join(dirpath, fn)))
        return sorted(files), sorted(dirs)


def strs(component: "Component", key: str, value: list) -> list[str]:
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
    from ppm import targets

    host = targets.host()
    if ctx.target != host:
        who = f"component {component!r} ({builder})" if component else builder
        raise NativeOnly(f"{who} cannot be built for {ctx.target.name} from this {host.name} machine: "
                         f"{builder} builds only for the machine it runs on; a {ctx.target.name} machine "
                         f"(or a remote worker of that platform, once ppm has them) would build it",
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
    def tools_for(cls, component: "Component", target: "Target") -> tuple[str, ...]:
        """The toolchains this component needs for `target` (default: all of `tools`)."""
        return cls.tools

    def plan(self, component: "Component", ctx: PlanContext) -> list[Action]:
        """The component's actions for ctx.target. The last action's outputs are the
        component's outputs, which components that need it receive."""
        raise NotImplementedError
