"""PyPI resolution: resolvelib over PEP 440 versions, with markers evaluated for every declared
target, extras as `name[extra]` identifiers (as pip does), requires-python, yanked files
(PEP 592: only when pinned with ==), pre-releases (only when asked for or nothing else fits),
and a wheel for every target: a version without one is skipped, and a package left with none
fails the lock naming the target."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import resolvelib
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from ppm.lockfile.errors import RegistryError, ResolutionError
from ppm.lockfile.model import Artifact, Package, package_key
from ppm.lockfile.registries.pypi import File, Metadata, PypiClient
from ppm.lockfile.request import PYTHON_VERSION, Root
from ppm.lockfile.resolvers import reaching
from ppm.lockfile.versions import VersionError, pep440_spec

ECO = "pypi"

# Marker environments and wheel platform tags of each target.
_ENV = {
    "linux-x86_64": ("linux", "Linux", "posix", "x86_64", r"(many|musl)?linux(1|2010|2014|_\d+_\d+)?_x86_64"),
    "linux-aarch64": ("linux", "Linux", "posix", "aarch64", r"(many|musl)?linux(2014|_\d+_\d+)?_aarch64"),
    "windows-x86_64": ("win32", "Windows", "nt", "AMD64", r"win_amd64"),
    "macos-arm64": ("darwin", "Darwin", "posix", "arm64", r"macosx_\d+_\d+_(arm64|universal2)"),
    "wasm32-wasi": ("wasi", "", "posix", "wasm32", r"(wasi|emscripten)_.*wasm32"),
}


def marker_env(target: str, python: str = PYTHON_VERSION) -> dict[str, str]:
    sys_platform, system, os_name, machine, _ = _ENV[target]
    return {"sys_platform": sys_platform, "platform_system": system, "os_name": os_name,
            "platform_machine": machine, "python_version": python, "python_full_version": f"{python}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "implementation_version": f"{python}.0", "platform_release": "", "platform_version": "", "extra": ""}


def wheel_fits(tags: Iterable[Tag], target: str, python: str = PYTHON_VERSION) -> bool:
    major, minor = (int(x) for x in python.split(".")[:2])
    plat = re.compile(_ENV[target][4])
    for t in tags:
        i, a, p = t.interpreter, t.abi, t.platform
        if p != "any" and not plat.fullmatch(p):
            continue
        if i == f"cp{major}{minor}" and a in ("none", "abi3", f"cp{major}{minor}"):
            return True
        m = re.fullmatch(r"cp(\d)(\d+)", i)
        if m and a == "abi3" and int(m.group(1)) == major and int(m.group(2)) <= minor:
            return True
        m = re.fullmatch(r"py(\d)(\d*)", i)
        if m and a == "none" and int(m.group(1)) == major and (not m.group(2) or int(m.group(2)) <= minor):
            return True
    return False


@dataclass(frozen=True)
class Req:
    ident: str  # "name" or "name[extra]"
    name: str
    spec: SpecifierSet
    parent: str  # who asked: "component X", "project" or "name version"
    extra: str | None = None
    # the targets this requirement is needed on: its root's conditions (PEP 508 markers, ppm's
    # `targets`) and the markers along the way, each evaluated per target
    targets: frozenset[str] = frozenset()

    def __str__(self) -> str:
        e = f"[{self.extra}]" if self.extra else ""
        return f"{self.name}{e}{self.spec or ''}"


@dataclass(eq=False)
class Cand:
    name: str
    version: Version
    files: list[File]
    extra: str | None = None
    _meta: Metadata | None = field(default=None, repr=False)
    targets: frozenset[str] = frozenset()  # where it is needed: it must have a wheel for each

    @property
    def ident(self) -> str:
        return f"{self.name}[{self.extra}]" if self.extra else self.name


class _Provider(resolvelib.AbstractProvider):
    def __init__(self, client: PypiClient, targets: Sequence[str], python: str, pinned: Mapping[str, Version]) -> None:
        self.client = client
        self.targets = list(targets)
        self.python = Version(python)
        self.envs = [marker_env(t, python) for t in targets]
        self.pinned = pinned  # name -> version preferred (from the old lock)
        self.cands: dict[tuple[str, Version, frozenset[str]], Cand] = {}
        self.why_skipped: dict[str, list[str]] = {}

    def identify(self, requirement_or_candidate: Req | Cand) -> str:
        return requirement_or_candidate.ident

    def get_preference(self, identifier: str, resolutions: Any, candidates: Any, information: Any, backtrack_causes: Any) -> Any:
        causes = {c.requirement.name for c in backtrack_causes} if backtrack_causes else set()
        pinned = any(str(s).startswith("==") for r, _ in information[identifier] for s in r.spec)
        return (identifier.split("[")[0] not in causes, not pinned, "[" in identifier, identifier)

    def _versions(self, name: str) -> dict[Version, list[File]]:
        return self.client.files(name)

    def _usable(self, name: str, version: Version, files: list[File], exact: bool, targets: frozenset[str]) -> list[File] | None:
        """The wheels of `version` for the targets that need the package; None when one lacks any."""
        files = [f for f in files if exact or not f.yanked]
        files = [f for f in files if not f.requires_python or self.python in SpecifierSet(f.requires_python)]
        wheels = [f for f in files if f.is_wheel]
        wanted = [t for t in self.targets if t in targets]
        missing = [t for t in wanted if not any(wheel_fits(f.tags, t, str(self.python)) for f in wheels)]
        if missing:
            if files:
                self.why_skipped.setdefault(name, []).append(f"{version} has no wheel for {', '.join(missing)}")
            return None
        return [f for f in wheels if any(wheel_fits(f.tags, t, str(self.python)) for t in wanted)]

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Req]], incompatibilities: Mapping[str, Iterator[Cand]]) -> list[Cand]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        name, extra = reqs[0].name, reqs[0].extra
        targets = frozenset().union(*(r.targets for r in reqs))
        spec = SpecifierSet()
        for r in reqs:
            spec &= r.spec
        exact = any(s.operator in ("==", "===") and "*" not in s.version for r in reqs for s in r.spec)
        versions = self._versions(name)
        allowed = sorted(set(spec.filter(versions.keys())) - bad, reverse=True)
        pin = self.pinned.get(name)
        if pin in allowed:
            allowed.remove(pin)
            allowed.insert(0, pin)  # keep the locked version when it still fits

        def matches() -> Iterator[Cand]:
            # Lazily: the resolver mostly takes the first, and checking a version's wheels for
            # every target is the costly part of a big project page.
            for v in allowed:
                files = self._usable(name, v, versions[v], exact, targets)
                if files is None:
                    continue
                base = self.cands.get((name, v, targets))
                if base is None:
                    base = self.cands[(name, v, targets)] = Cand(name, v, files, targets=targets)
                yield base if extra is None else Cand(name, v, files, extra, targets=targets)

        return matches  # type: ignore[return-value]  # resolvelib accepts a factory of iterators

    def is_satisfied_by(self, requirement: Req, candidate: Cand) -> bool:
        # a pin chosen for fewer targets than a later requirement needs is picked again (with
        # wheels for the wider set): resolvelib re-pins what no longer satisfies
        return (candidate.name == requirement.name and requirement.spec.contains(candidate.version, prereleases=True)
                and requirement.targets <= candidate.targets)

    def metadata(self, cand: Cand) -> Metadata:
        base = self.cands.get((cand.name, cand.version, cand.targets), cand)
        if base._meta is None:
            file = sorted(base.files, key=lambda f: (not f.has_metadata, "none-any" not in f.filename, f.filename))[0]
            base._meta = self.client.metadata(cand.name, file)
        return base._meta

    def get_dependencies(self, candidate: Cand) -> list[Req]:
        meta = self.metadata(candidate)
        parent = f"{candidate.name} {candidate.version}"
        deps: list[Req] = []
        if candidate.extra:
            deps.append(Req(candidate.name, candidate.name, SpecifierSet(f"=={candidate.version}"), parent,
                            targets=candidate.targets))
        envs = [(t, env) for t, env in zip(self.targets, self.envs, strict=True) if t in candidate.targets]
        for line in meta.requires_dist:
            try:
                r = Requirement(line)
            except InvalidRequirement:
                continue
            if r.marker is not None:
                extra = candidate.extra or ""
                on = frozenset(t for t, env in envs if r.marker.evaluate({**env, "extra": extra}))
                if not on:
                    continue
            elif candidate.extra:
                continue  # the base candidate carries the unconditional requirements
            else:
                on = candidate.targets
            deps.extend(_reqs(r, parent, on))
        self.client.prefetch(sorted({d.name for d in deps}))
        return deps


def _reqs(r: Requirement, parent: str, targets: frozenset[str]) -> list[Req]:
    name = canonicalize_name(r.name)
    out = [Req(name, name, r.specifier, parent, targets=targets)]
    out += [Req(f"{name}[{canonicalize_name(e)}]", name, r.specifier, parent, canonicalize_name(e), targets)
            for e in sorted(r.extras)]
    return out


def _root_reqs(root: Root, targets: Sequence[str]) -> list[Req]:
    parent = "the project" if root.component == "*" else f"component {root.component}"
    try:
        spec = pep440_spec(root.spec)
    except VersionError as e:
        raise ResolutionError(f"pypi: {root.name}: {e}") from None
    r = Requirement(root.name)
    r.specifier = spec
    r.extras = set(root.features)
    on = frozenset(root.targets_in(targets))  # PEP 508 marker and `targets`, per target
    return _reqs(r, parent, on) if on else []


def resolve(client: PypiClient, roots: list[Root], targets: Sequence[str], *, python: str = PYTHON_VERSION,
            pinned: Mapping[str, str] | None = None) -> list[Package]:
    """Resolve the PyPI roots into locked packages (with edges and reaching components)."""
    if not roots:
        return []
    provider = _Provider(client, targets, python, {canonicalize_name(k): Version(v) for k, v in (pinned or {}).items()})
    reqs = [r for root in roots for r in _root_reqs(root, targets)]
    client.prefetch(sorted({r.name for r in reqs}))
    try:
        result = resolvelib.Resolver(provider, resolvelib.BaseReporter()).resolve(reqs, max_rounds=20000)
    except resolvelib.ResolutionImpossible as e:
        raise ResolutionError(_explain(e.causes, provider)) from None
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError("pypi: resolution took too many rounds; pin some versions to help it") from None

    mapping: dict[str, Cand] = result.mapping
    bases = {c.name: c for c in mapping.values() if c.extra is None}
    edges: dict[str, set[str]] = {n: set() for n in bases}
    extras: dict[str, set[str]] = {n: set() for n in bases}
    for ident, cand in mapping.items():
        if cand.extra:
            extras[cand.name].add(cand.extra)
        for child in result.graph.iter_children(ident):
            if child is None:  # resolvelib's root: never a child
                continue
            cname = child.split("[")[0]
            if cname != cand.name:
                edges[cand.name].add(cname)
    reach = reaching(((r.component, [canonicalize_name(r.name)]) for r in roots), edges)
    src = client.index
    out = []
    for name, cand in sorted(bases.items()):
        deps = [package_key(ECO, d, str(bases[d].version)) for d in sorted(edges[name])]
        arts = [Artifact(f.url, f"sha256:{f.sha256}") for f in cand.files]
        only = sorted(cand.targets) if set(cand.targets) != set(targets) else []
        out.append(Package(ECO, name, str(cand.version), src, sorted(reach.get(name, ())), deps, arts, sorted(extras[name]),
                           {}, only))
    return out


def _explain(causes: Any, provider: _Provider) -> str:
    names = sorted({c.requirement.name for c in causes})
    lines = []
    for name in names:
        sides = [f"{c.requirement} (required by {c.parent.name + ' ' + str(c.parent.version) if c.parent else c.requirement.parent})"
                 for c in causes if c.requirement.name == name]
        try:
            available = provider._versions(name)
        except RegistryError:
            available = {}
        if len(sides) == 1 and not provider.why_skipped.get(name):
            lines.append(f"no version of {name} matches {sides[0]}" + (
                f"; available: {', '.join(str(v) for v in sorted(available)[-8:])}" if available else ""))
        else:
            lines.append(f"conflicting requirements on {name}: " + " and ".join(sides))
        for why in provider.why_skipped.get(name, [])[:5]:
            lines.append(f"  {name} {why}")
    return "pypi: cannot resolve: " + "\n  ".join(lines)
