"""Cargo resolution: resolvelib with one version per semver-compatible series (a crate may be
locked at 0.3.x and 1.x at once, never twice in one series), features unified as pip unifies
extras (each `crate@series[feature]` is its own node that pins the base version and brings the
optional dependencies and sub-features it enables), normal and build dependencies for every
target (as Cargo.lock does), dev-dependencies of registry crates ignored, yanked versions
skipped unless already locked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import resolvelib

from ppm.lockfile.errors import ResolutionError
from ppm.lockfile.model import Artifact, Package, package_key
from ppm.lockfile.registries.cargo import CargoClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolvers import reaching
from ppm.lockfile.versions import CargoReq, SemVer, VersionError, cargo_series

ECO = "cargo"


@dataclass(frozen=True)
class Req:
    name: str
    req: CargoReq
    series: str
    parent: str
    feature: str | None = None

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.series}" + (f"[{self.feature}]" if self.feature else "")

    def __str__(self) -> str:
        return f"{self.name} {self.req}" + (f" (feature {self.feature})" if self.feature else "")


@dataclass(eq=False)
class Cand:
    name: str
    version: SemVer
    entry: dict[str, Any] = field(repr=False)
    feature: str | None = None
    satisfies: dict[str, bool] = field(default_factory=dict, repr=False)  # requirement text -> answer

    @property
    def ident(self) -> str:
        return f"{self.name}@{cargo_series(self.version)}" + (f"[{self.feature}]" if self.feature else "")


class _Provider(resolvelib.AbstractProvider):
    def __init__(self, client: CargoClient, pinned: Mapping[str, str]) -> None:
        self.client = client
        self.pinned = pinned
        self._entries: dict[str, list[tuple[SemVer, dict[str, Any]]]] = {}

    def entries(self, name: str) -> list[tuple[SemVer, dict[str, Any]]]:
        """(version, index entry), highest first; computed once per crate."""
        out = self._entries.get(name)
        if out is None:
            out = []
            for e in self.client.versions(name):
                v = SemVer.try_parse(e.get("vers", ""))
                if v is not None:
                    out.append((v, e))
            out.sort(key=lambda x: x[0], reverse=True)
            self._entries[name] = out
        return out

    def make_req(self, name: str, spec: str, parent: str, feature: str | None = None) -> Req:
        try:
            req = CargoReq(spec)
        except VersionError as e:
            raise ResolutionError(f"cargo: {name}: {e}") from None
        # The series of the version cargo would pick: a locked one that still matches, else the
        # highest match (a range like ">=0.59, <0.62" spans series; its lower bound is not it).
        for key, pv in self.pinned.items():
            sv = SemVer.try_parse(pv)
            if key.split("@")[0] == name and sv is not None and req.contains(sv):
                return Req(name, req, cargo_series(sv), parent, feature)
        lower = next((v for v, e in self.entries(name) if not e.get("yanked") and req.contains(v)), req.lower)
        return Req(name, req, cargo_series(lower), parent, feature)

    def identify(self, requirement_or_candidate: Req | Cand) -> str:
        return requirement_or_candidate.ident

    def get_preference(self, identifier: str, resolutions: Any, candidates: Any, information: Any, backtrack_causes: Any) -> Any:
        causes = {c.requirement.name for c in backtrack_causes} if backtrack_causes else set()
        return (identifier.split("@")[0] not in causes, "[" in identifier, identifier)

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Req]], incompatibilities: Mapping[str, Iterator[Cand]]) -> list[Cand]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        name, series, feature = reqs[0].name, reqs[0].series, reqs[0].feature
        pin = SemVer.try_parse(self.pinned.get(f"{name}@{series}", "") or "")
        out = []
        for v, e in self.entries(name):
            if v in bad or cargo_series(v) != series or not all(r.req.contains(v) for r in reqs):
                continue
            if e.get("yanked") and v != pin:
                continue
            if feature and feature != "default" and feature not in e["features"] and not _optional_dep(e, feature):
                continue
            out.append(Cand(name, v, e, feature))
        if pin is not None:
            out.sort(key=lambda c: c.version != pin)
        return out

    def is_satisfied_by(self, requirement: Req, candidate: Cand) -> bool:
        # resolvelib re-checks every pin against every requirement each round (quadratic on big
        # graphs such as eframe's): remember the answers per (requirement text, version)
        hit = candidate.satisfies.get(requirement.req.spec)
        if hit is None:
            hit = candidate.satisfies[requirement.req.spec] = requirement.req.contains(candidate.version)
        return hit

    def dep_reqs(self, d: dict[str, Any], parent: str) -> list[Req]:
        real = d.get("package") or d["name"]
        out = [self.make_req(real, d.get("req", "*"), parent)]
        series = out[0].series
        feats = list(d.get("features") or [])
        if d.get("default_features", True):
            feats.append("default")
        out += [Req(real, out[0].req, series, parent, f) for f in sorted(set(feats))]
        return out

    def get_dependencies(self, candidate: Cand) -> list[Req]:
        e = candidate.entry
        parent = f"{candidate.name} {candidate.version}"
        # Cargo.lock is platform-independent: the dependency resolver keeps every dependency
        # whatever its `target` cfg (cargo's resolver/dep_cache.rs filters on kind and features
        # only; the cfg is applied later, when compiling). Normal and build dependencies count;
        # dev-dependencies of registry crates never reach a lock.
        deps = [d for d in e.get("deps", []) if d.get("kind", "normal") in ("normal", "build")]
        # Requirements read their crate's index entry (to know its series): fetch them all at once.
        self.client.prefetch(sorted({d.get("package") or d["name"] for d in deps}))
        # One name may be declared several times (under different `target` tables, or as normal
        # and build dependency): cargo's Requirements::require_dependency activates every entry
        # with that name_in_toml, so each of them brings its own requirement and features.
        by_name: dict[str, list[dict[str, Any]]] = {}
        for d in deps:
            by_name.setdefault(d["name"], []).append(d)
        out: list[Req] = []
        if candidate.feature is None:
            for d in deps:
                if not d.get("optional"):
                    out += self.dep_reqs(d, parent)
            return out
        pin = Req(candidate.name, CargoReq(f"={candidate.version}"), cargo_series(candidate.version), parent)
        out.append(pin)
        feature = candidate.feature
        items = e["features"].get(feature)
        if items is None:
            items = [f"dep:{feature}"] if feature in by_name else []  # an optional dependency's implicit feature
        for item in items:
            if item.startswith("dep:"):
                for d in by_name.get(item[4:], ()):
                    out += self.dep_reqs(d, parent)
            elif "/" in item:
                dep_name, sub = item.split("/", 1)
                weak = dep_name.endswith("?")
                dep_name = dep_name.rstrip("?")
                # "Weak features are always activated in the dependency resolver. They will be
                # narrowed inside the new feature resolver." (cargo, resolver/dep_cache.rs,
                # Requirements::require_value): for the lock, `dep?/feat` enables `dep` like
                # `dep/feat` does. Only the non-weak form also enables the parent's feature
                # named `dep` (require_dep_feature), which may switch on more than `dep:dep`.
                if not weak and dep_name in e["features"] and any(d.get("optional") for d in by_name.get(dep_name, ())):
                    out.append(Req(candidate.name, pin.req, pin.series, parent, dep_name))
                for d in by_name.get(dep_name, ()):
                    reqs = self.dep_reqs(d, parent)
                    out += reqs + [Req(reqs[0].name, reqs[0].req, reqs[0].series, parent, sub)]
            elif item in e["features"]:
                out.append(Req(candidate.name, pin.req, pin.series, parent, item))
            elif item in by_name:
                for d in by_name[item]:
                    out += self.dep_reqs(d, parent)
        return out


def _optional_dep(entry: dict[str, Any], name: str) -> bool:
    return any(d["name"] == name and d.get("optional") for d in entry.get("deps", []))


def resolve(client: CargoClient, roots: list[Root], *, pinned: Mapping[str, str] | None = None) -> list[Package]:
    if not roots:
        return []
    # pinned comes as name -> version; key it by series so 0.3.x and 1.x pins both apply
    pins: dict[str, str] = {}
    for name, v in (pinned or {}).items():
        sv = SemVer.try_parse(v)
        if sv is not None:
            pins[f"{name}@{cargo_series(sv)}"] = v
    provider = _Provider(client, pins)
    client.prefetch(sorted({r.name for r in roots}))
    reqs: list[Req] = []
    for r in roots:
        who = "the project" if r.component == "*" else f"component {r.component}"
        base = provider.make_req(r.name, r.spec or "*", who)
        root_feats = set(r.features) | ({"default"} if r.default_features else set())
        reqs += [base] + [Req(base.name, base.req, base.series, who, f) for f in sorted(root_feats)]
    try:
        result = resolvelib.Resolver(provider, resolvelib.BaseReporter()).resolve(reqs, max_rounds=20000)
    except resolvelib.ResolutionImpossible as e:
        lines = []
        for name in sorted({c.requirement.ident for c in e.causes}):
            sides = [f"{c.requirement} (required by {c.requirement.parent})" for c in e.causes if c.requirement.ident == name]
            try:
                avail = sorted(v for v, _ in provider.entries(name.split("@")[0]))
            except Exception:
                avail = []
            lines.append(f"nothing satisfies {' and '.join(sides)}" + (f"; available: {', '.join(map(str, avail[-8:]))}" if avail else ""))
        raise ResolutionError("cargo: cannot resolve: " + "\n  ".join(lines)) from None

    mapping: dict[str, Cand] = result.mapping
    bases = {ident: c for ident, c in mapping.items() if c.feature is None}
    feats: dict[str, set[str]] = {i: set() for i in bases}
    edges: dict[str, set[str]] = {i: set() for i in bases}
    for ident, cand in mapping.items():
        base_ident = ident.split("[")[0]
        if cand.feature:
            feats[base_ident].add(cand.feature)
        for child in result.graph.iter_children(ident):
            if child is None:  # resolvelib's root: never a child
                continue
            cb = child.split("[")[0]
            if cb != base_ident:
                edges[base_ident].add(cb)
    reach = reaching(((r.component, [i for i in bases if i.startswith(f"{r.name}@") and any(
        q.ident == i for q in reqs if q.name == r.name and q.parent.endswith(r.component if r.component != "*" else "project"))])
        for r in roots), edges)
    out = []
    for ident, c in sorted(bases.items()):
        deps = [package_key(ECO, bases[d].name, str(bases[d].version)) for d in sorted(edges[ident])]
        cksum = c.entry.get("cksum", "")
        arts = [Artifact(client.download_url(c.name, str(c.version), cksum), f"sha256:{cksum}")]
        out.append(Package(ECO, c.name, str(c.version), client.source, sorted(reach.get(ident, ())), deps, arts,
                           sorted(feats[ident] - {"default"} | ({"default"} if "default" in c.entry["features"] and "default" in feats[ident] else set()))))
    return out
