"""What to lock: the root requirements of every ecosystem, read from the manifest, and the
digest of everything the lock depends on (so `ppm lock` on an unchanged manifest is a no-op)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ppm import targets as targets_mod
from ppm.lockfile import conditions
from ppm.lockfile.errors import LockError
from ppm.lockfile.model import ALL_COMPONENTS, LOCK_VERSION

RESOLVER_VERSION = 3  # bump when resolution rules change, so old locks are redone
PYTHON_VERSION = os.environ.get("PPM_PYTHON_VERSION", "3.11")


@dataclass(frozen=True)
class Root:
    """One `name = spec` line of a [dependencies.<eco>] table."""

    ecosystem: str
    name: str
    spec: str  # the version requirement in the ecosystem's grammar; "" = any
    component: str = ALL_COMPONENTS
    features: tuple[str, ...] = ()  # cargo features, pypi extras
    default_features: bool = True
    optional: bool = False
    # Where it is needed, in the ecosystem's own words (all empty: on every target):
    targets: tuple[str, ...] = ()  # ppm's `targets = [...]`, any ecosystem
    marker: str = ""  # PyPI: a PEP 508 marker, `sys_platform == 'win32'`
    cfg: str = ""  # cargo: `cfg(windows)` or a target triple, as in [target.'cfg(...)'.dependencies]
    os: tuple[str, ...] = ()  # npm: `os`/`cpu` lists, as in package.json (`!x` excludes)
    cpu: tuple[str, ...] = ()

    @property
    def conditional(self) -> bool:
        return bool(self.targets or self.marker or self.cfg or self.os or self.cpu)

    def on(self, target: str) -> bool:
        """Whether this root is needed when building for `target`."""
        if not self.conditional:
            return True
        return conditions.applies(self.ecosystem, self.name, targets=self.targets, marker=self.marker, cfg=self.cfg,
                                  os=self.os, cpu=self.cpu, on=target)

    def targets_in(self, targets: Sequence[str]) -> list[str]:
        return [t for t in targets if self.on(t)]


_CONDITION_KEYS = {"pypi": ("markers", "marker"), "cargo": ("target",), "npm": ("os", "cpu")}


def parse_spec(ecosystem: str, name: str, spec: Any, component: str = ALL_COMPONENTS) -> Root:
    if isinstance(spec, str):
        return Root(ecosystem, name, spec.strip(), component)
    feats = tuple(spec.get("features", ())) + tuple(spec.get("extras", ()))
    where = f"{ecosystem}:{name}" + ("" if component == ALL_COMPONENTS else f" (component {component})")
    for key in ("markers", "marker", "target", "os", "cpu"):
        if key in spec and key not in _CONDITION_KEYS.get(ecosystem, ()):
            raise LockError(f"ppm.toml: {where}: `{key}` is not a condition {ecosystem} knows",
                            hint="`targets = [...]` restricts a dependency in any ecosystem; PyPI takes `markers`, "
                                 "cargo `target = \"cfg(...)\"`, npm `os` and `cpu`")
    wanted = spec.get("targets", ())
    if isinstance(wanted, str) or not all(isinstance(t, str) for t in wanted):
        raise LockError(f"ppm.toml: {where}: `targets` must be a list of target names, like [\"windows-x86_64\"]")
    try:
        tnames = tuple(sorted(set(concrete_targets(list(wanted))))) if wanted else ()
    except LookupError as e:
        raise LockError(f"ppm.toml: {where}: {e}") from None
    root = Root(ecosystem, name, str(spec.get("version", "")).strip(), component, tuple(sorted(set(feats))),
                bool(spec.get("default-features", spec.get("default_features", True))), bool(spec.get("optional", False)),
                tnames, str(spec.get("markers", spec.get("marker", ""))).strip(), str(spec.get("target", "")).strip(),
                tuple(_strs(spec.get("os", ()))), tuple(_strs(spec.get("cpu", ()))))
    if root.marker or root.cfg:
        conditions.check(ecosystem, name, marker=root.marker, cfg=root.cfg)
    return root


def _strs(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else [str(x) for x in v]


def roots(project_deps: Mapping[str, Mapping[str, Any]], component_deps: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[Root]:
    out = [parse_spec(eco, n, s) for eco, pk in project_deps.items() for n, s in pk.items()]
    for comp, deps in component_deps.items():
        out += [parse_spec(eco, n, s, comp) for eco, pk in deps.items() for n, s in pk.items()]
    return sorted(out, key=lambda r: (r.ecosystem, r.name, r.component))


def concrete_targets(targets: list[str]) -> list[str]:
    return sorted({targets_mod.get(t).name for t in targets})


def digest(project_deps: Mapping[str, Any], component_deps: Mapping[str, Any], targets: list[str],
           registries: Mapping[str, str], builders: list[str] = ()) -> str:  # type: ignore[assignment]
    """sha256 over the lock's inputs in canonical JSON. Only ecosystems in use contribute their
    registry URL, so pointing an unused ecosystem elsewhere does not invalidate the lock. The
    builders in use decide which toolchains the lock pins."""
    used = set(project_deps) | {e for d in component_deps.values() for e in d}
    doc = {
        "lock": LOCK_VERSION, "resolver": RESOLVER_VERSION, "python": PYTHON_VERSION,
        "dependencies": project_deps,
        "components": {c: d for c, d in component_deps.items() if d},
        "targets": sorted(set(targets)),
        "registries": {e: u for e, u in registries.items() if e in used},
        "builders": sorted(set(builders)),
    }
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def digest_from_toml(data: Mapping[str, Any], registries: Mapping[str, str]) -> str:
    """The digest from the raw ppm.toml data, without validating the manifest (the no-op path)."""
    comps = {n: c.get("dependencies", {}) for n, c in (data.get("components") or {}).items() if isinstance(c, dict)}
    targets = (data.get("project") or {}).get("targets", ["host"])
    builders = [c.get("builder", "") for c in (data.get("components") or {}).values() if isinstance(c, dict)]
    return digest(data.get("dependencies", {}), comps, concrete_targets(targets), registries, builders)
