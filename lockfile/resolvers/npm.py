"""npm resolution: node-semver ranges and npm's tree placement. A dependency is first looked up
the node_modules chain; if none there satisfies the range, the chosen version is placed as high
as it can go (towards the root) without shadowing a copy another package already resolved to,
so conflicting versions nest under their dependents, as npm does. Each range picks the
`latest` dist-tag when it satisfies, else the highest matching version."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ppm.lockfile.errors import ResolutionError
from ppm.lockfile.model import Artifact, Package, package_key
from ppm.lockfile.registries.npm import NpmClient
from ppm.lockfile.request import Root
from ppm.lockfile.versions import NpmRange, SemVer, VersionError

ECO = "npm"


def _pick(client: NpmClient, name: str, ranges: list[tuple[str, str]], pinned: Mapping[str, str]) -> str:
    doc = client.packument(name)
    try:
        parsed = [NpmRange(r) for r, _ in ranges]
    except VersionError as e:
        raise ResolutionError(f"npm: {name}: {e}") from None
    versions = [v for v in (SemVer.try_parse(s) for s in doc["versions"]) if v is not None]
    ok = [v for v in versions if all(r.contains(v) for r in parsed)]
    if not ok:
        sides = " and ".join(f"{name}@{r} (required by {who})" for r, who in ranges)
        shown = ", ".join(str(v) for v in sorted(versions)[-8:])
        raise ResolutionError(f"npm: no version of {name} satisfies {sides}; available: {shown}")
    for pref in (pinned.get(name), (doc.get("dist-tags") or {}).get("latest")):
        v = SemVer.try_parse(pref) if pref else None
        if v is not None and v in ok:
            return str(v)
    return str(max(ok))


def _deps(meta: dict[str, Any]) -> dict[str, str]:
    out = dict(meta.get("optionalDependencies") or {})
    out.update(meta.get("dependencies") or {})
    return out


def resolve(client: NpmClient, roots: list[Root], *, pinned: Mapping[str, str] | None = None) -> list[Package]:
    if not roots:
        return []
    pinned = pinned or {}
    client.prefetch(sorted({r.name for r in roots}))
    # node path -> (name, version); "" is the project itself
    nodes: dict[str, tuple[str, str]] = {"": ("", "")}
    children: dict[str, dict[str, str]] = {"": {}}  # node path -> name -> child path
    resolved_from: dict[str, dict[str, str]] = {}  # node path -> dep name -> path it resolved to
    root_ranges: dict[str, list[tuple[str, str]]] = {}
    for r in roots:
        who = "the project" if r.component == "*" else f"component {r.component}"
        root_ranges.setdefault(r.name, []).append((r.spec or "*", who))
    for name in sorted(root_ranges):
        v = _pick(client, name, root_ranges[name], pinned)
        path = f"node_modules/{name}"
        nodes[path] = (name, v)
        children[""][name] = path
        children[path] = {}
    resolved_from[""] = dict(children[""])
    queue = deque(sorted(children[""].values()))

    def ancestors(path: str) -> list[str]:
        """The node itself, then each enclosing node, up to the root ''."""
        out = [path]
        while path:
            i = path.rfind("/node_modules/")
            path = path[:i] if i >= 0 else ""
            out.append(path)
        return out

    while queue:
        path = queue.popleft()
        name, version = nodes[path]
        meta = client.packument(name)["versions"][version]
        deps = _deps(meta)
        # npm 7+ installs peer dependencies (arborist's default; not with --legacy-peer-deps),
        # except those peerDependenciesMeta marks optional. A peer must be visible from the
        # package's parent, so it is never nested under the package itself.
        peer_meta = meta.get("peerDependenciesMeta") or {}
        peers = {d: r for d, r in (meta.get("peerDependencies") or {}).items()
                 if d not in deps and not (peer_meta.get(d) or {}).get("optional")}
        deps = {**deps, **peers}
        client.prefetch(sorted(deps))
        resolved_from[path] = {}
        for dep in sorted(deps):
            rng = deps[dep]
            try:
                want = NpmRange(rng)
            except VersionError:
                raise ResolutionError(f"npm: {name}@{version} depends on {dep}@{rng!r}, which is not a semver range "
                                      "(git, file and URL dependencies are not supported)") from None
            chain = ancestors(path)[1:] if dep in peers else ancestors(path)
            found = next((children[a][dep] for a in chain if dep in children[a]), None)
            if found is not None and want.contains(nodes[found][1]):
                resolved_from[path][dep] = found
                continue
            v = _pick(client, dep, [(rng, f"{name}@{version}")], pinned)
            # Place as high as possible: stop below the first ancestor that already has this name,
            # and below any ancestor whose subtree already resolved this name to a copy above it.
            target = chain[0]
            for a in chain[1:]:
                if dep in children[a]:
                    break
                prefix = (a + "/") if a else ""
                if any(p.startswith(prefix) and dep in rf and not rf[dep].startswith(prefix + "node_modules/")
                       for p, rf in resolved_from.items() if p and p != path):
                    break
                target = a
            child = (target + "/" if target else "") + f"node_modules/{dep}"
            nodes[child] = (dep, v)
            children[target][dep] = child
            children[child] = {}
            resolved_from[path][dep] = child
            queue.append(child)

    # Gather packages: one per (name, version), with every path it was placed at.
    pkgs: dict[str, Package] = {}
    for path, (name, version) in sorted(nodes.items()):
        if not path:
            continue
        key = package_key(ECO, name, version)
        p = pkgs.get(key)
        if p is None:
            meta = client.packument(name)["versions"][version]
            dist = meta.get("dist") or {}
            integrity = dist.get("integrity") or (f"sha1:{dist['shasum']}" if dist.get("shasum") else "")
            arts = [Artifact(dist["tarball"], integrity)] if dist.get("tarball") else []
            extra: dict[str, Any] = {"paths": []}
            # the ranges as published, for package-lock.json's per-package fields
            for f, k in (("dependencies", "npm-dependencies"), ("optionalDependencies", "npm-optional-dependencies")):
                if meta.get(f):
                    extra[k] = [f"{n}@{r}" for n, r in sorted(meta[f].items())]
            for f in ("os", "cpu"):
                if meta.get(f):
                    extra[f] = list(meta[f])
            p = pkgs[key] = Package(ECO, name, version, client.url, [], [], arts, [], extra)
        p.extra["paths"].append(path)  # type: ignore[union-attr]
        for dep_path in resolved_from.get(path, {}).values():
            d = nodes[dep_path]
            dk = package_key(ECO, d[0], d[1])
            if dk not in p.dependencies:
                p.dependencies.append(dk)
    # Which components reach each package.
    for r in roots:
        start = children[""][r.name]
        stack, seen = [start], set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            p = pkgs[package_key(ECO, *nodes[n])]
            if r.component not in p.components:
                p.components.append(r.component)
            stack.extend(resolved_from.get(n, {}).values())
    for p in pkgs.values():
        p.components.sort()
        p.dependencies.sort()
        p.extra["paths"] = sorted(p.extra["paths"])  # type: ignore[arg-type]
    return [pkgs[k] for k in sorted(pkgs)]
