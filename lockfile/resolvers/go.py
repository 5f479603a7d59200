"""Go resolution: minimal version selection over the pruned module graph, as the go command builds
it for a main module at go >= 1.17 that requires the roots (cmd/go/internal/modload, readModGraph
and expandGraph; cmd/go/internal/mvs): for each module, the highest version the graph requires.
The lock keeps the h1 hash of each selected module's zip and go.mod, and the go.mod hashes of the
other versions the walk read (go.sum lists those too)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ppm.lockfile.errors import ResolutionError
from ppm.lockfile.model import Artifact, Package, package_key
from ppm.lockfile.registries.go import GoClient, hash_mod, hash_zip
from ppm.lockfile.request import Root
from ppm.lockfile.resolvers import reaching
from ppm.lockfile.versions import GoVersion, VersionError

ECO = "go"
_REQ_LINE = re.compile(r"^\s*(\S+)\s+(v\S+)")


def parse_requires(mod: str) -> list[tuple[str, str]]:
    """The `require` entries of a go.mod (block and single-line forms)."""
    out = []
    block = False
    for raw in mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if block:
            if line == ")":
                block = False
            elif (m := _REQ_LINE.match(line)):
                out.append((m.group(1).strip('"'), m.group(2)))
        elif line.startswith("require"):
            rest = line[len("require"):].strip()
            if rest == "(":
                block = True
            elif (m := _REQ_LINE.match(rest)):
                out.append((m.group(1).strip('"'), m.group(2)))
    return out


def _latest(client: GoClient, module: str) -> str:
    vs = [v for v in client.versions(module) if _parse(v) is not None]
    final = [v for v in vs if not _parse(v).pre]  # type: ignore[union-attr]
    if not (final or vs):
        raise ResolutionError(f"go: {module} has no tagged versions")
    return max(final or vs, key=_parse)  # type: ignore[arg-type]


def _parse(v: str) -> GoVersion | None:
    try:
        return GoVersion.parse(v)
    except VersionError:
        return None


_GO_LINE = re.compile(r"^go\s+(\d+)\.(\d+)", re.M)


def _pruned(mod: bytes) -> bool:
    """A go.mod at go 1.17 or later lists every module its packages need: its dependents need not
    read further (https://go.dev/ref/mod#graph-pruning)."""
    m = _GO_LINE.search(mod.decode("utf-8", "replace"))
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (1, 17)


def _graph(client: GoClient, roots: Mapping[str, str]) -> tuple[dict, dict, set]:
    """(requirements of each loaded module version, their go.mod texts, every graph node): the
    roots' go.mod files are read; a module's requirements are followed further only from an
    unpruned (go < 1.17) module or below one, as the go command's readModGraph does."""
    reqs_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    mods: dict[tuple[str, str], bytes] = {}
    nodes: set[tuple[str, str]] = set(roots.items())
    seen: set[tuple[tuple[str, str], bool]] = set()
    frontier = [(mv, False) for mv in sorted(roots.items())]  # (module version, reached through unpruned)
    while frontier:
        client.prefetch_mods(sorted({mv for mv, _ in frontier if mv not in mods}))
        nxt = []
        for mv, unpruned in frontier:
            if (mv, unpruned) in seen:
                continue
            seen.add((mv, unpruned))
            if mv not in mods:
                mods[mv] = client.mod(*mv)
                reqs_of[mv] = parse_requires(mods[mv].decode("utf-8", "replace"))
            nodes.update(reqs_of[mv])
            if unpruned or not _pruned(mods[mv]):
                nxt += [(r, True) for r in reqs_of[mv]]
        frontier = sorted(set(nxt))
    return reqs_of, mods, nodes


def _select(nodes: set[tuple[str, str]]) -> dict[str, str]:
    """MVS: for each module path, the highest version anything in the graph requires."""
    selected: dict[str, str] = {}
    for m, v in nodes:
        if m not in selected or _parse(v) > _parse(selected[m]):  # type: ignore[operator]
            selected[m] = v
    return selected


def _build_list(client: GoClient, roots: dict[str, str]) -> tuple[dict[str, str], dict, dict, dict[str, str]]:
    """(selected versions, requirements of each loaded module version, go.mod texts, roots): the
    build list `go list -m all` prints for a main module at go >= 1.17 that requires `roots`.
    Only the roots are raised to their selected versions and the graph read again (modload's
    expandGraph: "if the complete graph reveals that some root of rs is not actually the selected
    version of its path, expandGraph computes a new root set"); modules that are not roots keep
    their place inside the pruned graph, so what a pruned-out module requires raises nothing
    (https://go.dev/ref/mod#graph-pruning)."""
    listed = dict(roots)
    seen_mods: dict = {}  # every go.mod read on the way, so go.sum can vouch for the roots as written
    for _ in range(50):
        reqs_of, mods, nodes = _graph(client, listed)
        seen_mods.update(mods)
        selected = _select(nodes)
        raised = {m: selected[m] for m in listed if selected[m] != listed[m]}
        if not raised:
            return selected, reqs_of, seen_mods, listed
        listed.update(raised)
    raise ResolutionError("go: the module graph did not settle (roots keep being raised)")


def _safe_to_list(client: GoClient, selected: Mapping[str, str], roots: Mapping[str, str],
                  mods: dict, reqs_of: dict, outside: dict[str, dict]) -> set[str]:
    """Modules of the build list that the exported go.mod may also require (`// indirect`)
    without changing the build list: listing a module makes the go command read its go.mod as a
    root, so only modules whose graph stays inside the selection at no higher versions qualify.
    A go >= 1.17 main module must list every module that provides a package it builds, and by
    the same invariant in each dependency's own tidy go.mod, those are the ones that qualify."""
    safe: set[str] = set()
    for m, v in sorted(selected.items()):
        if m in roots:
            continue
        r, md, nodes = _graph(client, {m: v})
        if all(nm in selected and not _parse(nv) > _parse(selected[nm]) for nm, nv in nodes):  # type: ignore[operator]
            safe.add(m)
        # `go build -mod=mod` makes each module that provides an imported package a root and reads
        # its graph: keep those go.mod files too (go.sum lines, and the vendored proxy serves them)
        for k, x in md.items():
            if k[0] in selected:
                mods.setdefault(k, x)
            elif not any(k in o for o in outside.values()):
                outside.setdefault(m, {})[k] = x  # a module outside the build list: only its go.mod
        for k, x in r.items():
            reqs_of.setdefault(k, x)
    return safe


def resolve(client: GoClient, roots: list[Root], *, pinned: Mapping[str, str] | None = None) -> list[Package]:
    if not roots:
        return []
    root_versions: dict[str, str] = {}
    for r in roots:
        spec = r.spec.lstrip("=@ ") or "latest"
        if spec == "latest":
            spec = (pinned or {}).get(r.name) or _latest(client, r.name)
        if _parse(spec) is None:
            raise ResolutionError(f"go: {r.name}: {spec!r} is not a Go version (like v1.6.0)")
        cur = root_versions.get(r.name)
        if cur is None or _parse(spec) > _parse(cur):  # type: ignore[operator]
            root_versions[r.name] = spec
    selected, reqs_of, mods, _ = _build_list(client, root_versions)
    all_mods = dict(mods)  # every go.mod the go command reads: go.sum keeps their hashes
    outside: dict[str, dict] = {}  # module -> go.mod texts its graph reads of modules not selected
    listed = _safe_to_list(client, selected, root_versions, all_mods, reqs_of, outside)
    client.prefetch_mods(sorted(mv for mv in selected.items() if mv not in all_mods))
    for mv in selected.items():
        if mv not in all_mods:
            all_mods[mv] = client.mod(*mv)
        if mv not in reqs_of:
            reqs_of[mv] = parse_requires(all_mods[mv].decode("utf-8", "replace"))
    # Edges and reach over the selected build list.
    edges = {m: sorted({d for d, _ in reqs_of[(m, v)] if d in selected}) for m, v in selected.items()}
    reach = reaching(((r.component, [r.name]) for r in roots), edges)
    client.prefetch_zips(sorted(selected.items()))
    out = []
    for m, v in sorted(selected.items()):
        zh = hash_zip(client.zip(m, v))
        arts = [Artifact(client.zip_url(m, v), zh), Artifact(client.mod_url(m, v), hash_mod(all_mods[(m, v)]))]
        others = sorted((ov for om, ov in all_mods if om == m and ov != v), key=_parse)  # type: ignore[arg-type]
        extra: dict[str, Any] = {"go-mod-sums": [f"{ov} {hash_mod(all_mods[(m, ov)])}" for ov in others]} if others else {}
        if m in listed:
            extra["go-mod-require"] = True  # export.go_mod lists it `// indirect`
        if m in outside:  # "module version h1:..." of go.mod files only (go.sum, vendored proxy)
            extra["go-graph-mods"] = [f"{om} {ov} {hash_mod(t)}" for (om, ov), t in sorted(outside[m].items())]
        deps = [package_key(ECO, d, selected[d]) for d in edges[m]]
        out.append(Package(ECO, m, v, client.url, sorted(reach.get(m, ())), deps, arts, [], extra))
    return out
