"""Native lockfiles exported from ppm.lock: what each ecosystem's own tool reads in its locked mode.

    Cargo.lock               (v4)     cargo build --locked
    package-lock.json        (v3)     npm ci
    pylock.toml (PEP 751), requirements-locked.txt (hashed)   pip install --require-hashes
    go.mod, go.sum                    go build -mod=readonly, go mod verify
    maven-dependencies.txt            the pinned Maven artifacts, with their hashes

A *world* is one component's view of one ecosystem: the locked packages its own dependencies
reach, plus the project-wide ones when its builder works in that ecosystem (the cargo builder
sees [dependencies.cargo], esbuild [dependencies.npm], ...). Project-wide dependencies of an
ecosystem no component builds with form a world of their own (component None).

Every function here is pure: the same lock gives the same bytes."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ppm.lockfile import ecosystems
from ppm.lockfile.errors import LockError
from ppm.lockfile.model import ALL_COMPONENTS, Lock, Package, _str
from ppm.lockfile.request import PYTHON_VERSION, Root, concrete_targets
from ppm.lockfile.request import roots as request_roots
from ppm.lockfile.versions import CargoReq, GoVersion, SemVer

if TYPE_CHECKING:
    from ppm.core.manifest import Manifest

# The ecosystem each builder takes third-party packages from.
BUILDER_ECOSYSTEM = {"cargo": "cargo", "esbuild": "npm", "pyinstaller": "pypi", "graalvm": "maven", "go": "go"}
GO_DEFAULT = "1.21"
CRATES_IO_SOURCE = "registry+https://github.com/rust-lang/crates.io-index"


@dataclass
class World:
    component: str | None  # None: project-wide packages of an ecosystem no component builds with
    ecosystem: str
    direct: list[tuple[Root, Package]]  # each root requirement and the package it locked to
    packages: list[Package] = field(default_factory=list)  # everything reached, sorted by key

    @property
    def label(self) -> str:
        return f"component {self.component!r}" if self.component else "the project"


# ---------------------------------------------------------------------------------------------
# Worlds


def _norm(eco: str, name: str) -> str:
    if eco == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def _match_root(lock: Lock, r: Root, who: str) -> Package:
    """The locked package a root requirement resolved to."""
    name = _norm(r.ecosystem, r.name)
    cands = [p for p in lock.by_ecosystem(r.ecosystem) if _norm(r.ecosystem, p.name) == name and who in p.components]
    if r.ecosystem == "npm":
        cands = [p for p in cands if f"node_modules/{name}" in p.extra.get("paths", [])] or cands  # type: ignore[operator]
    elif r.ecosystem == "cargo" and len(cands) > 1 and r.spec:

        req = CargoReq(r.spec)
        cands = [p for p in cands if req.contains(p.version)] or cands
    if not cands:
        raise LockError(f"ppm.lock has no {r.ecosystem} package {r.name!r} for {who if who != ALL_COMPONENTS else 'the project'}",
                        hint="run `ppm lock`")
    return cands[-1]


def _reach(lock: Lock, starts: Iterable[Package]) -> list[Package]:
    seen: dict[str, Package] = {}
    stack = list(starts)
    while stack:
        p = stack.pop()
        if p.key in seen:
            continue
        seen[p.key] = p
        stack.extend(lock.packages[d] for d in p.dependencies)
    return [seen[k] for k in sorted(seen)]


def worlds(manifest: Manifest, lock: Lock) -> list[World]:
    comp_deps = {n: c.dependencies for n, c in manifest.components.items()}
    targets = concrete_targets(manifest.targets)
    # roots needed on none of the project's targets are not locked (lockfile/resolve.py)
    all_roots = [r for r in request_roots(manifest.dependencies, comp_deps) if not r.conditional or r.targets_in(targets)]
    project_roots = [r for r in all_roots if r.component == ALL_COMPONENTS]
    out: list[World] = []
    claimed: set[str] = set()  # ecosystems whose project-wide packages some component takes
    for name in sorted(manifest.components):
        c = manifest.components[name]
        own = BUILDER_ECOSYSTEM.get(c.builder)
        for eco in sorted({r.ecosystem for r in all_roots if r.component == name} | ({own} if own else set())):
            direct = [(r, _match_root(lock, r, name)) for r in all_roots if r.component == name and r.ecosystem == eco]
            if eco == own:
                direct += [(r, _match_root(lock, r, ALL_COMPONENTS)) for r in project_roots if r.ecosystem == eco]
                claimed.add(eco)
            if direct:
                out.append(World(name, eco, direct, _reach(lock, [p for _, p in direct])))
    for eco in sorted({r.ecosystem for r in project_roots} - claimed):
        direct = [(r, _match_root(lock, r, ALL_COMPONENTS)) for r in project_roots if r.ecosystem == eco]
        out.append(World(None, eco, direct, _reach(lock, [p for _, p in direct])))
    return out


# ---------------------------------------------------------------------------------------------
# Cargo.lock


def _semver_key(v: str) -> Any:

    sv = SemVer.try_parse(v)
    return (0, sv) if sv is not None else (1, v)


def cargo_root(crate_dir: Path) -> tuple[str, str]:
    """(name, version) of the crate in crate_dir/Cargo.toml."""
    try:
        data = tomllib.loads((crate_dir / "Cargo.toml").read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError) as e:
        raise LockError(f"{crate_dir / 'Cargo.toml'}: cannot read ({e})") from None
    pkg = data.get("package") or {}
    version = pkg.get("version", "0.0.0")
    return str(pkg.get("name", crate_dir.name)), version if isinstance(version, str) else "0.0.0"


def cargo_lock(world: World, root_name: str, root_version: str) -> str:
    """Cargo.lock version 4, laid out byte for byte as cargo writes it (`--locked` compares text)."""
    pkgs = world.packages
    count: dict[str, int] = {}
    for p in pkgs:
        count[p.name] = count.get(p.name, 0) + 1

    def ref(p: Package) -> str:
        return p.name if count[p.name] == 1 else f"{p.name} {p.version}"

    def order(name: str, version: str) -> Any:
        return (name, _semver_key(version))

    entries: list[tuple[str, str, str | None, str | None, list[Package]]] = [
        (root_name, root_version, None, None, [p for _, p in world.direct])]
    by_key = {p.key: p for p in pkgs}
    for p in pkgs:
        cksum = next((a.hash.split(":", 1)[1] for a in p.artifacts if a.hash.startswith("sha256:")), None)
        # ppm's cargo registry (PPM_REGISTRY_CARGO) stands in for crates.io, as a cargo source
        # replacement would: Cargo.toml names crates plainly, so Cargo.lock says crates.io.
        entries.append((p.name, p.version, CRATES_IO_SOURCE, cksum, [by_key[d] for d in p.dependencies]))
    entries.sort(key=lambda e: (order(e[0], e[1]), e[2] or ""))
    out = ["# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n"]
    for name, version, source, cksum, deps in entries:
        lines = ["[[package]]\n", f"name = {json.dumps(name)}\n", f"version = {json.dumps(version)}\n"]
        if source:
            lines.append(f"source = {json.dumps(source)}\n")
        if cksum:
            lines.append(f"checksum = {json.dumps(cksum)}\n")
        refs = sorted({ref(d): order(d.name, d.version) for d in deps}.items(), key=lambda kv: kv[1])
        if refs:
            lines.append("dependencies = [\n" + "".join(f" {json.dumps(r)},\n" for r, _ in refs) + "]\n")
        out.append("".join(lines))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# package-lock.json


def _npm_layout(world: World, lock: Lock) -> dict[str, Package]:
    """node_modules path -> package, for the packages this world reaches (the project's one npm
    tree may hold copies other components placed; those are left out)."""
    at: dict[str, Package] = {}
    for p in lock.by_ecosystem("npm"):
        for path in p.extra.get("paths", []):  # type: ignore[union-attr]
            at[path] = p
    out: dict[str, Package] = {}
    queue = [f"node_modules/{r.name}" for r, _ in world.direct]
    while queue:
        path = queue.pop()
        if path in out or path not in at:
            continue
        p = out[path] = at[path]
        for dk in p.dependencies:
            dep = lock.packages[dk].name
            base = path
            while True:  # look the name up the node_modules chain, as node does
                cand = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
                if at.get(cand) is lock.packages[dk]:
                    queue.append(cand)
                    break
                if not base:
                    break
                i = base.rfind("/node_modules/")
                base = base[:i] if i >= 0 else ""
    return dict(sorted(out.items()))


def _npm_lookup(layout: dict[str, Package], path: str, dep: str) -> str | None:
    base = path
    while True:
        cand = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
        if cand in layout:
            return cand
        if not base:
            return None
        i = base.rfind("/node_modules/")
        base = base[:i] if i >= 0 else ""


def _npm_required(world: World, layout: dict[str, Package]) -> set[str]:
    """The paths reached from the roots through non-optional dependencies."""
    out: set[str] = set()
    queue = [f"node_modules/{r.name}" for r, _ in world.direct]
    while queue:
        path = queue.pop()
        if path in out or path not in layout:
            continue
        out.add(path)
        p = layout[path]
        optional = {s.rsplit("@", 1)[0] for s in p.extra.get("npm-optional-dependencies", [])}  # type: ignore[union-attr]
        for s in p.extra.get("npm-dependencies", []):  # type: ignore[union-attr]
            dep = s.rsplit("@", 1)[0]
            if dep not in optional and (found := _npm_lookup(layout, path, dep)):
                queue.append(found)
    return out


def npm_root_dependencies(world: World) -> dict[str, str]:
    return {r.name: (r.spec or "*") for r, _ in sorted(world.direct, key=lambda x: x[0].name)}


def package_lock(world: World, lock: Lock, root_name: str, root_version: str = "0.0.0") -> str:
    root: dict[str, Any] = {"name": root_name, "version": root_version}
    deps = npm_root_dependencies(world)
    if deps:
        root["dependencies"] = deps
    packages: dict[str, Any] = {"": root}
    layout = _npm_layout(world, lock)
    required = _npm_required(world, layout)
    for path, p in layout.items():
        e: dict[str, Any] = {"version": p.version}
        art = p.artifacts[0] if p.artifacts else None
        if art is not None:
            e["resolved"] = art.url
            e["integrity"] = art.hash
        for field_name, key in (("dependencies", "npm-dependencies"), ("optionalDependencies", "npm-optional-dependencies")):
            specs = p.extra.get(key) or []
            if isinstance(specs, list) and specs:
                e[field_name] = dict((s[:i], s[i + 1:]) if (i := s.rfind("@")) > 0 else (s, "*") for s in specs)
        for f in ("cpu", "os"):
            if p.extra.get(f):
                e[f] = list(p.extra[f])  # type: ignore[arg-type]
        if path not in required:
            e["optional"] = True  # reached only through optionalDependencies: npm ci may skip it
        packages[path] = e
    doc = {"name": root_name, "version": root_version, "lockfileVersion": 3, "requires": True, "packages": packages}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# pylock.toml and hashed requirements


def _wheel_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("#", 1)[0]


def target_marker(targets: Iterable[str]) -> str:
    """A PEP 508 marker true exactly on these targets (sys_platform and platform_machine, as
    lockfile/resolvers/pypi.py evaluates them), for packages only some targets reach."""
    from ppm.lockfile.resolvers.pypi import marker_env

    each = []
    for t in sorted(targets):
        env = marker_env(t)
        each.append(f"(sys_platform == '{env['sys_platform']}' and platform_machine == '{env['platform_machine']}')")
    return " or ".join(each)


def pylock(world: World, python: str | None = None) -> str:
    """PEP 751 pylock.toml: every package with a wheel for each declared target, hashes as locked."""

    py = python or PYTHON_VERSION
    out = ['lock-version = "1.0"\n', f'requires-python = "=={py}.*"\n', 'created-by = "ppm"\n']
    for p in world.packages:
        out.append(f"\n[[packages]]\nname = {_str(p.name)}\nversion = {_str(p.version)}\nindex = {_str(p.source)}\n")
        if p.targets:  # PEP 751: installers skip a package whose marker is false here
            out.append(f"marker = {_str(target_marker(p.targets))}\n")
        if p.dependencies:
            deps = ", ".join(f"{{ name = {_str(k.split(':', 1)[1].rsplit('@', 1)[0])} }}" for k in sorted(p.dependencies))
            out.append(f"dependencies = [{deps}]\n")
        out.append("wheels = [\n")
        for a in sorted(p.artifacts):
            algo, _, digest = a.hash.partition(":")
            out.append(f"  {{ name = {_str(_wheel_name(a.url))}, url = {_str(a.url)}, hashes = {{ {algo} = {_str(digest)} }} }},\n")
        out.append("]\n")
    return "".join(out)


def requirements(world: World, packages: Iterable[Package] | None = None) -> str:
    """A hashed requirements file (`pip install --require-hashes --no-deps -r ...`)."""
    pkgs = list(world.packages if packages is None else packages)
    out = ["# Written by `ppm sync` from ppm.lock; edit ppm.toml instead.\n"]
    index = sorted({p.source for p in pkgs})
    if len(index) == 1 and index[0].rstrip("/") != "https://pypi.org/simple":
        out.append(f"--index-url {index[0]}\n")
    for p in pkgs:
        hashes = sorted({a.hash for a in p.artifacts if a.hash.startswith("sha256:")})
        marker = f" ; {target_marker(p.targets)}" if p.targets else ""  # pip skips it elsewhere
        out.append(f"{p.name}=={p.version}{marker}" + "".join(f" \\\n    --hash={h}" for h in hashes) + "\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# go.mod and go.sum


_GO_LINE = re.compile(r"^go\s+(\S+)", re.M)


def go_directive(mod_texts: Iterable[str], floor: str = GO_DEFAULT) -> str:
    """The `go` line the main module needs: at least every required module's."""

    best = floor
    for text in mod_texts:
        m = _GO_LINE.search(text)
        if not m:
            continue
        v = m.group(1)
        parts = v.split(".")
        try:
            if GoVersion.parse("v" + ".".join((parts + ["0", "0"])[:3])) > GoVersion.parse("v" + ".".join((best.split(".") + ["0", "0"])[:3])):
                best = v
        except Exception:
            continue
    return best


def go_mod(world: World, module: str, existing: str | None = None, go_version: str = GO_DEFAULT) -> str:
    """go.mod: the module's own lines kept (module, replace, exclude, tool, ...), `go` raised to
    what the dependencies need, and the require blocks written from the lock."""
    direct = {p.name for _, p in world.direct}
    keep: list[str] = []
    if existing:
        lines = existing.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("require"):
                if line.rstrip().endswith("("):
                    while i < len(lines) and lines[i].strip() != ")":
                        i += 1
                i += 1
                continue
            keep.append(lines[i])
            i += 1
    else:
        keep = [f"module {module}", "", f"go {go_version}"]
    text = "\n".join(keep).rstrip() + "\n"
    m = _GO_LINE.search(text)
    if m is None:
        text = text.rstrip() + f"\n\ngo {go_version}\n"
    else:
        text = text[:m.start()] + f"go {go_directive([text[m.start():m.end()]], go_version)}" + text[m.end():]
    d = [p for p in world.packages if p.name in direct]
    # Only the modules the resolver found safe to list (extra "go-mod-require"): listing any other
    # module of the build list would make the go command read its go.mod as a root and select
    # more, or higher, versions than ppm.lock holds (lockfile/resolvers/go.py, _safe_to_list).
    ind = [p for p in world.packages if p.name not in direct and p.extra.get("go-mod-require")]
    for group, suffix in ((d, ""), (ind, " // indirect")):
        if group:
            text += "\nrequire (\n" + "".join(f"\t{p.name} {p.version}{suffix}\n" for p in group) + ")\n"
    return text


def go_sum(world: World) -> str:

    lines = set()
    for p in world.packages:
        for a in p.artifacts:
            if a.url.endswith(".zip"):
                lines.add((p.name, p.version, "", a.hash))
            elif a.url.endswith(".mod"):
                lines.add((p.name, p.version, "/go.mod", a.hash))
        for s in p.extra.get("go-mod-sums", []):  # type: ignore[union-attr]
            v, h = str(s).split(" ", 1)
            lines.add((p.name, v, "/go.mod", h))
        for s in p.extra.get("go-graph-mods", []):  # type: ignore[union-attr]
            m, v, h = str(s).split(" ", 2)
            lines.add((m, v, "/go.mod", h))

    def key(x: tuple[str, str, str, str]) -> Any:
        try:
            return (x[0], GoVersion.parse(x[1]), x[2])
        except Exception:
            return (x[0], x[1], x[2])

    return "".join(f"{m} {v}{s} {h}\n" for m, v, s, h in sorted(lines, key=key))


# ---------------------------------------------------------------------------------------------
# Maven


def maven_dependencies(world: World) -> str:
    """groupId:artifactId:type:version and the artifact's hash, one line each, nearest first."""
    out = ["# Written by `ppm sync` from ppm.lock: every Maven artifact on the classpath, pinned.\n",
           "# groupId:artifactId:type:version hash\n"]
    for p in sorted(world.packages, key=lambda p: (int(p.extra.get("depth", 0)), p.name)):  # type: ignore[arg-type]
        art = p.artifacts[0] if p.artifacts else None
        typ = art.url.rsplit(".", 1)[-1] if art else "jar"
        out.append(f"{p.name}:{typ}:{p.version} {art.hash if art else '-'}\n")
    return "".join(out)


def maven_pom(world: World, group: str = "ppm.export", artifact: str = "deps", version: str = "0") -> str:
    """A POM declaring the world's direct dependencies, every version pinned by dependencyManagement:
    what `mvn dependency:tree` / `dependency:go-offline` read."""
    managed = "".join(f"<dependency><groupId>{p.name.split(':')[0]}</groupId><artifactId>{p.name.split(':')[1]}</artifactId>"
                      f"<version>{p.version}</version></dependency>\n" for p in world.packages)
    direct = "".join(f"<dependency><groupId>{p.name.split(':')[0]}</groupId><artifactId>{p.name.split(':')[1]}</artifactId>"
                     f"<version>{p.version}</version></dependency>\n" for _, p in world.direct)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
            f"<modelVersion>4.0.0</modelVersion>\n<groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version><packaging>pom</packaging>\n"
            f"<dependencyManagement><dependencies>\n{managed}</dependencies></dependencyManagement>\n"
            f"<dependencies>\n{direct}</dependencies>\n</project>\n")


# ---------------------------------------------------------------------------------------------
# One world's files


NATIVE_FILES = {
    "cargo": ("Cargo.lock",),
    "npm": ("package-lock.json",),
    "pypi": ("pylock.toml", "requirements-locked.txt"),
    "go": ("go.mod", "go.sum"),
    "maven": ("maven-dependencies.txt",),
}


def export_cargo(world: World, lock: Lock, directory: Path, go_version: str) -> dict[str, str]:
    return {"Cargo.lock": cargo_lock(world, *cargo_root(directory))}


def export_npm(world: World, lock: Lock, directory: Path, go_version: str) -> dict[str, str]:
    pj_name, pj_version = world.component or "project", "0.0.0"
    try:
        pj = json.loads((directory / "package.json").read_text(encoding="utf-8"))
        pj_name, pj_version = pj.get("name", pj_name), pj.get("version", "0.0.0")
    except (FileNotFoundError, ValueError, AttributeError):
        pass
    return {"package-lock.json": package_lock(world, lock, pj_name, pj_version)}


def export_pypi(world: World, lock: Lock, directory: Path, go_version: str) -> dict[str, str]:
    return {"pylock.toml": pylock(world), "requirements-locked.txt": requirements(world)}


def export_go(world: World, lock: Lock, directory: Path, go_version: str) -> dict[str, str]:
    gm = directory / "go.mod"
    existing = gm.read_text(encoding="utf-8") if gm.is_file() else None
    return {"go.mod": go_mod(world, world.component or "project", existing, go_version), "go.sum": go_sum(world)}


def export_maven(world: World, lock: Lock, directory: Path, go_version: str) -> dict[str, str]:
    return {"maven-dependencies.txt": maven_dependencies(world)}


def export_world(world: World, lock: Lock, directory: Path, *, go_version: str = GO_DEFAULT) -> dict[str, str]:
    """file name -> text of this world's native lockfiles, for a component whose sources are in
    `directory` (read for the names it declares: Cargo.toml, package.json, go.mod). The exporter
    is the one lockfile/ecosystems.py names for the world's ecosystem."""
    return globals()[ecosystems.get(world.ecosystem).exporter](world, lock, directory, go_version)
