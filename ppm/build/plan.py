"""Planning: manifest × targets → a graph of actions, through the builders. Nothing runs here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ppm import targets as targets_mod
from ppm import toolchains
from ppm.build.graph import topo_order
from ppm.builders import REGISTRY, check_manifest
from ppm.builders.base import Builder, NativeOnly, PlanContext, Synced
from ppm.core.action import Action
from ppm.core.errors import GraphError, ManifestError, ToolchainError
from ppm.core.manifest import Component, Manifest
from ppm.lockfile import sync
from ppm.lockfile.toolchains import locked_pins
from ppm.targets import Target
from ppm.toolchains import Toolchain


@dataclass(eq=False)
class PlannedAction:
    action: Action
    target: Target
    id: str
    component: Component
    builder: type[Builder]
    needs: list[PlannedAction] = field(default_factory=list)
    deps: dict[str, PlannedAction] = field(default_factory=dict)  # {dep:NAME} -> the action providing it
    env_deps: dict[str, PlannedAction] = field(default_factory=dict)  # PPM_DEP_<NAME> -> action
    # The target whose machine must run it, when not this one: an action of a builder that builds
    # only for its own machine, planned for another target because a remote executor may have a
    # worker of that platform (make_plan's `elsewhere`). Only a remote executor can run it.
    runs_on: Target | None = None

    def __hash__(self) -> int:
        return id(self)


@dataclass
class Plan:
    manifest: Manifest
    order: list[str]
    targets: list[Target]
    actions: list[PlannedAction]  # in a valid execution order
    finals: dict[tuple[str, str], PlannedAction]  # (target, component) -> its last action
    skipped: dict[str, str]  # component -> why it is not built
    toolchains: dict[str, Toolchain]
    tests: list[PlannedAction] = field(default_factory=list)  # test actions, when asked for
    # (target, component) -> why it cannot be built from this machine (a builder that only
    # builds for its own platform, or a component that needs one); the rest still builds.
    unbuildable: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.manifest.root


def make_plan(manifest: Manifest, target_names: list[str] | None = None, *, provision: bool = True,
              report: Any = None, components: list[str] | None = None,
              tests: list[str] | None = None, elsewhere: bool = False) -> Plan:
    """`components` limits the plan to those components and what they need (default: all);
    `tests` adds the test actions of those components (host target only: a test runs here).
    With `elsewhere` (a remote executor is configured), a builder that builds only for its own
    machine is planned for other targets too, its actions marked to run on a machine of that
    target; without it, such a component is named unbuildable and the rest is built."""
    check_manifest(manifest)
    order = topo_order(manifest.components)
    if components is not None or tests:
        wanted = _closure(manifest, [*(components or []), *(tests or [])])
        order = [n for n in order if n in wanted]
    names = target_names or manifest.targets
    try:
        tlist = list({t.name: t for t in (targets_mod.get(n) for n in names)}.values())
    except LookupError as e:
        raise ManifestError(str(e)) from None
    _refuse_unreachable(tlist)

    needed = {name: sorted({x for t in tlist for x in REGISTRY[manifest.components[name].builder].tools_for(
        manifest.components[name], t)}) for name in order}
    # Toolchains a builder may use for some target but decides about while planning (cargo's
    # build-std for a target without an installed std): looked up, never required here.
    optional = {x for name in order for t in tlist
                for x in REGISTRY[manifest.components[name].builder].optional_tools_for(manifest.components[name], t)}
    tcs = toolchains.resolve(sorted({x for v in needed.values() for x in v} | optional), provision=provision,
                             report=report, pins=locked_pins(manifest.root))

    skipped: dict[str, str] = {}
    for name in order:
        c = manifest.components[name]
        missing = [t for t in needed[name] if not tcs[t].usable and (provision or not _provisionable(tcs[t]))]
        # A skipped component is optional: what needs it is built without it (the builder
        # sees it missing from ctx.deps), so only a missing toolchain skips a component.
        why = "; ".join(f"{t} is not usable: {tcs[t].note or 'not found'}" for t in missing) if missing else None
        if why:
            if not c.optional:
                raise ToolchainError(f"component {name!r} ({c.builder}) cannot be built: {why}",
                                     hint="install the toolchain, or mark the component `optional = true` in ppm.toml")
            skipped[name] = why

    synced = {name: synced_for(manifest.root, name) for name in order if name not in skipped}
    actions: list[PlannedAction] = []
    test_actions: list[PlannedAction] = []
    finals: dict[tuple[str, str], PlannedAction] = {}
    unbuildable: dict[tuple[str, str], str] = {}
    multi = len(tlist) > 1
    for t in tlist:
        for name in order:
            if name in skipped:
                continue
            c = manifest.components[name]
            bcls = REGISTRY[c.builder]
            blocked = [n for n in c.needs if (t.name, n) in unbuildable]
            if blocked:
                unbuildable[(t.name, name)] = f"needs {', '.join(blocked)}, which cannot be built here for {t.name}"
                continue
            deps = {n: list(finals[(t.name, n)].action.outputs) for n in c.needs if n not in skipped}
            ctx = PlanContext(root=manifest.root, target=t, deps=deps, toolchains=tcs, synced=synced[name])
            runs_on: Target | None = None
            try:
                planned = bcls().plan(c, ctx)
            except NativeOnly as e:
                if not elsewhere:
                    unbuildable[(t.name, name)] = e.message
                    continue
                planned = bcls().plan(c, replace(ctx, native_elsewhere=True))
                runs_on = t
            if not planned:
                raise GraphError(f"builder {c.builder!r} planned no action for component {name!r}")
            by_name: dict[str, PlannedAction] = {}
            for a in planned:
                actions.append(_planned(a, t, multi, c, bcls, manifest, skipped, finals, by_name))
                actions[-1].runs_on = runs_on
            finals[(t.name, name)] = by_name[planned[-1].name]
            if tests and name in tests and t == targets_mod.host():
                for a in bcls().plan_tests(c, ctx):
                    test_actions.append(_planned(a, t, multi, c, bcls, manifest, skipped, finals, by_name))
                    actions.append(test_actions[-1])
    return Plan(manifest, order, tlist, actions, finals, skipped, tcs, tests=test_actions, unbuildable=unbuildable)


def _refuse_unreachable(tlist: list[Target]) -> None:
    """Targets no toolchain can reach from this machine (macOS without Apple's SDK) are refused
    before anything runs: there is nothing partial worth building for them."""
    host = targets_mod.host()
    for t in tlist:
        if t.needs_native and t.os != host.os:
            raise ToolchainError(f"target {t.name} cannot be built from this {host.name} machine: it needs {t.needs_native}",
                                 hint=f"build {t.name} on a {t.name} machine (or a remote worker of that platform), "
                                      f"and drop it from --target / project.targets here")


def _planned(a: Action, t: Target, multi: bool, c: Component, bcls: type[Builder], manifest: Manifest,
             skipped: dict[str, str], finals: dict[tuple[str, str], PlannedAction],
             by_name: dict[str, PlannedAction]) -> PlannedAction:
    """One action placed in the graph: its {dep:...} references resolved to earlier actions."""
    name = c.name
    if a.name in by_name:
        raise GraphError(f"builder {c.builder!r} planned two actions named {a.name!r} for {name!r}")
    if not a.settings:
        a = replace(a, settings=c.settings)
    aid = f"{t.name}/{a.id}" if multi else a.id
    pa = PlannedAction(a, t, aid, c, bcls)
    for n in c.needs:
        if n in skipped:
            continue
        f = finals[(t.name, n)]
        pa.deps[n] = f
        pa.env_deps[manifest.components[n].env_name] = f
    for ref in a.needs:
        if ":" in ref:
            cn, an = ref.split(":", 1)
            src = by_name.get(an) if cn == name else None
            if src is None and cn != name and (t.name, cn) in finals and finals[(t.name, cn)].action.name == an:
                src = finals[(t.name, cn)]
        else:
            src = pa.deps.get(ref)
        if src is None:
            raise GraphError(f"action {a.id} needs {ref!r}, which is not an earlier action of {name!r} "
                             f"nor a component it needs")
        pa.deps[ref] = src
    pa.needs = list({id(d): d for d in pa.deps.values()}.values())
    by_name[a.name] = pa
    return pa


def _closure(manifest: Manifest, names: list[str]) -> set[str]:
    """The named components and everything they need, transitively."""
    unknown = [n for n in names if n not in manifest.components]
    if unknown:
        raise ManifestError(f"{manifest.path}: no component named {', '.join(map(repr, unknown))}",
                            hint=f"the components are: {', '.join(sorted(manifest.components))}")
    seen: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(manifest.components[n].needs)
    return seen


def synced_for(root: Path, component: str) -> Synced:
    """What `ppm sync` installed for a component, as its builder sees it."""
    return Synced(cargo_args=tuple(sync.cargo_args(root, component)),
                  python_paths=tuple(sync.python_paths(root, component)),
                  go_env=tuple(sorted(sync.go_env(root, component).items())))


def _provisionable(tc: Toolchain) -> bool:
    return toolchains.provisionable(tc.name)
