"""Maven resolution: effective POMs (parent chain, properties, dependencyManagement with `import`
BOMs), then Maven's mediation: breadth-first from the roots, the nearest declaration of a
group:artifact wins and, at equal depth, the first declared. compile and runtime scopes are
followed, test/provided/system and optional dependencies of dependencies are not; exclusions
apply to the subtree below the dependency that declares them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from ppm.lockfile.errors import ResolutionError
from ppm.lockfile.model import Artifact, Package, package_key
from ppm.lockfile.registries.maven import MavenClient
from ppm.lockfile.request import Root
from ppm.lockfile.versions import MavenRange, MavenVersion, VersionError

ECO = "maven"


@dataclass
class Dep:
    group: str
    artifact: str
    version: str
    scope: str = "compile"
    optional: bool = False
    type: str = "jar"
    exclusions: frozenset[str] = frozenset()
    classifier: str = ""

    @property
    def ga(self) -> str:
        return f"{self.group}:{self.artifact}"

    @property
    def mkey(self) -> str:
        """Maven's management key, groupId:artifactId:type[:classifier] (Dependency.getManagementKey):
        inheritance merges and dependencyManagement match on it, so logback-classic's compile
        `logback-core` and its test-scoped `logback-core` test-jar are two dependencies, not one."""
        return f"{self.ga}:{self.type}" + (f":{self.classifier}" if self.classifier else "")


@dataclass
class Model:
    group: str
    artifact: str
    version: str
    packaging: str = "jar"
    properties: dict[str, str] = field(default_factory=dict)
    managed: dict[str, Dep] = field(default_factory=dict)  # management key -> managed dep (version, scope)
    dependencies: list[Dep] = field(default_factory=list)


def _t(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    c = el.find(tag)
    return c.text.strip() if c is not None and c.text else None


class _Models:
    def __init__(self, client: MavenClient) -> None:
        self.client = client
        self.cache: dict[tuple[str, str, str], Model] = {}

    def effective(self, g: str, a: str, v: str, _depth: int = 0) -> Model:
        key = (g, a, v)
        if key in self.cache:
            return self.cache[key]
        if _depth > 20:
            raise ResolutionError(f"maven: {g}:{a}:{v}: parent or import chain is too deep (a cycle?)")
        root = self.client.pom(g, a, v)
        parent_el = root.find("parent")
        parent: Model | None = None
        if parent_el is not None:
            pg, pa, pv = _t(parent_el, "groupId"), _t(parent_el, "artifactId"), _t(parent_el, "version")
            if pg and pa and pv:
                parent = self.effective(pg, pa, pv, _depth + 1)
        group = _t(root, "groupId") or (parent.group if parent else g)
        version = _t(root, "version") or (parent.version if parent else v)
        props = dict(parent.properties) if parent else {}
        pe = root.find("properties")
        if pe is not None:
            for c in pe:
                if isinstance(c.tag, str):
                    props[c.tag] = (c.text or "").strip()
        props.update({"project.groupId": group, "pom.groupId": group, "project.version": version,
                      "pom.version": version, "project.artifactId": a, "groupId": group, "version": version})
        if parent:
            props.update({"project.parent.version": parent.version, "parent.version": parent.version,
                          "project.parent.groupId": parent.group})

        def interp(s: str | None) -> str:
            s = s or ""
            for _ in range(10):
                new = re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), s)
                if new == s:
                    break
                s = new
            return s

        m = Model(group, a, version, _t(root, "packaging") or "jar", props)
        if parent:
            m.managed = dict(parent.managed)
        own_managed: dict[str, Dep] = {}
        imports: list[Dep] = []
        for d in self._deps(root.find("dependencyManagement/dependencies"), interp):
            if d.scope == "import" and d.type == "pom":
                imports.append(d)
            else:
                own_managed[d.mkey] = d
        m.managed.update(own_managed)
        for bom in imports:  # imported BOMs never override what is declared directly
            bm = self.effective(bom.group, bom.artifact, bom.version, _depth + 1)
            for mk, d in bm.managed.items():
                if mk not in own_managed:
                    m.managed.setdefault(mk, d)
        # Inheritance puts the child's own dependencies first, then the parent's it does not
        # redeclare (ModelMerger.mergeModelBase_Dependencies with target = child): the order
        # decides which declaration is first at equal depth.
        deps = {d.mkey: d for d in self._deps(root.find("dependencies"), interp)}
        for d in parent.dependencies if parent else []:
            deps.setdefault(d.mkey, Dep(d.group, d.artifact, d.version, d.scope, d.optional, d.type, d.exclusions, d.classifier))
        for d in deps.values():
            md = m.managed.get(d.mkey)
            if not d.version and md:
                d.version = md.version
            if md and d.scope == "" and md.scope:
                d.scope = md.scope
            if md and not d.exclusions and md.exclusions:
                # DefaultDependencyManagementInjector.mergeDependency_Exclusions: a declaration
                # without exclusions takes the managed ones (dropwizard's BOM drops guava's jsr305)
                d.exclusions = md.exclusions
            d.scope = d.scope or "compile"
        m.dependencies = list(deps.values())
        self.cache[key] = m
        return m

    @staticmethod
    def _deps(el: ET.Element | None, interp) -> list[Dep]:  # noqa: ANN001
        out = []
        for d in el.findall("dependency") if el is not None else []:
            excl = frozenset(f"{interp(_t(x, 'groupId'))}:{interp(_t(x, 'artifactId'))}" for x in d.findall("exclusions/exclusion"))
            out.append(Dep(interp(_t(d, "groupId")), interp(_t(d, "artifactId")), interp(_t(d, "version")),
                           interp(_t(d, "scope")) or "", interp(_t(d, "optional")) == "true", interp(_t(d, "type")) or "jar", excl,
                           interp(_t(d, "classifier")) or ""))
        return out


def _excluded(ga: str, exclusions: frozenset[str]) -> bool:
    g, a = ga.split(":")
    return any(e in (ga, f"{g}:*", "*:*", f"*:{a}") for e in exclusions)


def resolve(client: MavenClient, roots: list[Root], *, pinned: Mapping[str, str] | None = None) -> list[Package]:
    if not roots:
        return []
    models = _Models(client)

    def concrete(ga: str, spec: str, who: str) -> str:
        if not spec:
            raise ResolutionError(f"maven: {ga} (required by {who}) has no version")
        try:
            rng = MavenRange(spec)
        except VersionError as e:
            raise ResolutionError(f"maven: {ga}: {e}") from None
        if rng.soft is not None:
            return spec
        g, a = ga.split(":")
        ok = [v for v in client.versions(g, a) if rng.contains(v)]
        if not ok:
            raise ResolutionError(f"maven: no version of {ga} in {spec} (required by {who})")
        return max(ok, key=MavenVersion)

    # BFS; each queue item: (dep, depth, exclusions on this path, parent ga, component)
    chosen: dict[str, tuple[str, int, str]] = {}  # ga -> (version, depth, type)
    edges: dict[str, set[str]] = {}
    reach: dict[str, set[str]] = {}
    queue: deque[tuple[str, str, str, frozenset[str], str, str]] = deque()
    for r in roots:
        if r.name.count(":") != 1:
            raise ResolutionError(f"maven: {r.name!r} should be groupId:artifactId")
        who = "the project" if r.component == "*" else f"component {r.component}"
        queue.append((r.name, concrete(r.name, r.spec, who), "jar", frozenset(), "", r.component))
    depth_of: dict[str, int] = {}
    while queue:
        # prefetch the POMs of this whole level
        client.prefetch_poms([(ga.split(":")[0], ga.split(":")[1], v) for ga, v, *_ in queue if ga not in chosen])
        level = list(queue)
        queue.clear()
        for ga, version, typ, excl, parent, comp in level:
            if parent:
                edges.setdefault(parent, set()).add(ga)
            if ga in chosen:
                reach.setdefault(ga, set()).add(comp)
                continue  # nearest (then first) wins
            d = depth_of.get(parent, -1) + 1
            chosen[ga] = (version, d, typ)
            depth_of[ga] = d
            reach.setdefault(ga, set()).add(comp)
            g, a = ga.split(":")
            model = models.effective(g, a, version)
            for dep in model.dependencies:
                if dep.scope not in ("compile", "runtime") or dep.optional or _excluded(dep.ga, excl):
                    continue
                v = concrete(dep.ga, dep.version, f"{ga}:{version}")
                queue.append((dep.ga, v, dep.type, excl | dep.exclusions, ga, comp))
    # reach through edges for components first seen via another path
    changed = True
    while changed:
        changed = False
        for ga, kids in edges.items():
            for k in kids:
                if not reach.get(ga, set()) <= reach.setdefault(k, set()):
                    reach[k] |= reach[ga]
                    changed = True
    urls = []
    for ga, (version, _, typ) in sorted(chosen.items()):
        g, a = ga.split(":")
        ext = "pom" if models.effective(g, a, version).packaging == "pom" or typ == "pom" else "jar"
        urls.append((client.file_url(g, a, version, ext), ga))
    client.prefetch_checksums(urls)
    out = []
    for ga, (version, _, typ) in sorted(chosen.items()):
        g, a = ga.split(":")
        model = models.effective(g, a, version)
        ext = "pom" if model.packaging == "pom" or typ == "pom" else "jar"
        url = client.file_url(g, a, version, ext)
        h = client.checksum(url, ga)
        arts = [Artifact(url, h)] if h else []
        deps = [package_key(ECO, k, chosen[k][0]) for k in sorted(edges.get(ga, ())) if k in chosen]
        out.append(Package(ECO, ga, version, client.url, sorted(reach.get(ga, ())), deps, arts, [],
                           {"depth": chosen[ga][1]}))
    return out

