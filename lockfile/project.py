"""The lock operations behind `ppm lock`, `ppm add`, `ppm remove`, `ppm tree` and `ppm why`.
The commands in ppm/commands/lock.py only parse options and print what these return."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ppm.core import manifest as manifest_mod
from ppm.core import projectroot
from ppm.core.fsutil import atomic_write_bytes
from ppm.core.manifest import ECOSYSTEMS
from ppm.lockfile import checkrecord, conditions, ecosystems, model, request
from ppm.lockfile.errors import LockError, ResolutionError
from ppm.lockfile.registries import registry_urls

MANIFEST = "ppm.toml"


VERIFIED = Path(".ppm") / "lock-verified"  # sha256 of the last ppm.lock found whole and well-formed


def _lock_is_whole(root: Path) -> bool:
    """True when ppm.lock parses and hangs together (no truncation, no merge markers, no dangling
    edges). Parsed once per content: a hash of the bytes is remembered in .ppm/, so the no-op costs
    one read and one sha256, not a TOML parse of a large lock."""

    path = root / model.LOCK
    try:
        body = path.read_bytes()
    except OSError:
        return False
    seen = "sha256:" + hashlib.sha256(body).hexdigest()
    stamp = root / VERIFIED
    try:
        if stamp.read_text(encoding="ascii").strip() == seen:
            return True
    except (OSError, UnicodeDecodeError):
        pass
    try:
        model.loads(body.decode("utf-8"), path)
    except (LockError, UnicodeDecodeError):
        return False
    try:
        atomic_write_bytes(stamp, (seen + "\n").encode("ascii"))  # concurrent ppm runs never see half
    except OSError:
        pass  # a read-only project: parse again next time
    return True


def is_fresh(root: Path) -> bool:
    """True when ppm.lock was written from exactly this manifest and is itself intact (no network,
    no resolver imports): the `ppm lock` no-op."""
    digest = model.read_manifest_digest(root / model.LOCK)
    if not digest:
        return False
    try:
        data = tomllib.loads((root / MANIFEST).read_text(encoding="utf-8"))
        if request.digest_from_toml(data, registry_urls(root=root)) != digest:
            return False
    except Exception:
        return False  # let the full path report what is wrong
    return _lock_is_whole(root)


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # "eco:name 1.0 -> 1.1" and in-place changes

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        return [f"+ {k}" for k in self.added] + [f"- {k}" for k in self.removed] + [f"~ {k}" for k in self.changed]


def diff(old: model.Lock | None, new: model.Lock) -> Diff:
    old_pk = old.packages if old else {}
    d = Diff()
    old_names = {(p.ecosystem, p.name): p for p in old_pk.values()}
    new_names = {(p.ecosystem, p.name): p for p in new.packages.values()}
    for k in sorted(set(new.packages) - set(old_pk)):
        p = new.packages[k]
        o = old_names.get((p.ecosystem, p.name))
        if o is not None and o.key not in new.packages and sum(1 for q in new.packages.values() if (q.ecosystem, q.name) == (p.ecosystem, p.name)) == 1:
            d.changed.append(f"{p.ecosystem}:{p.name} {o.version} -> {p.version}")
        else:
            d.added.append(k)
    for k in sorted(set(old_pk) - set(new.packages)):
        p = old_pk[k]
        n = new_names.get((p.ecosystem, p.name))
        if n is None or n.key in old_pk or sum(1 for q in new.packages.values() if (q.ecosystem, q.name) == (p.ecosystem, p.name)) != 1:
            d.removed.append(k)
    for k in sorted(set(old_pk) & set(new.packages)):
        if model.dumps(model.Lock(packages={k: old_pk[k]})) != model.dumps(model.Lock(packages={k: new.packages[k]})):
            d.changed.append(f"{k} (artifacts, edges or components)")
    return d


@dataclass
class LockResult:
    status: str  # "fresh", "written", "unchanged", "stale"
    diff: Diff
    path: Path


def _http(offline: bool):  # noqa: ANN202
    # httpx costs start-up on the `ppm lock` no-op path
    from ppm.lockfile.registries.http import HttpClient

    return HttpClient(offline=offline)


def _read_old(path: Path) -> model.Lock | None:
    return model.read(path) if path.exists() else None


def lock(root: Path, *, check: bool = False, upgrade: bool = False, upgrade_packages: Iterable[str] = (),
         offline: bool = False) -> LockResult:
    path = root / model.LOCK
    ups = list(upgrade_packages)
    if check and not upgrade and not ups:
        return check_lock(root, offline=offline)
    if not upgrade and not ups and is_fresh(root):
        return LockResult("fresh", Diff(), path)
    # httpx costs start-up on the `ppm lock` no-op path
    from ppm.lockfile.resolve import lock_project

    old = _read_old(path)
    with _http(offline) as http:
        new = lock_project(root, http=http, old=old, upgrade=True if upgrade else ups)
    d = diff(old, new)
    if check:  # with --upgrade: would an upgrade change the lock?
        if old is not None and model.dumps(old) == model.dumps(new):
            return LockResult("fresh", d, path)
        if old is None:
            d.added.insert(0, f"{model.LOCK} does not exist")
        elif not d:
            d.changed.append("toolchain pins or manifest digest")
        return LockResult("stale", d, path)
    wrote = model.write(path, new)
    return LockResult("written" if wrote else "unchanged", d, path)


def _whole_diff(old: model.Lock, new: model.Lock, text: str) -> Diff:
    """Every difference between the lock on disk and the one resolution produces, named."""
    d = diff(old, new)
    if old.manifest_digest != new.manifest_digest:
        d.changed.append("manifest-digest (ppm.toml changed since the lock was written, or the header was edited)")
    for name in sorted(set(old.toolchains) | set(new.toolchains)):
        if model.dumps(model.Lock(toolchains={name: old.toolchains[name]}) if name in old.toolchains else model.Lock()) != \
                model.dumps(model.Lock(toolchains={name: new.toolchains[name]}) if name in new.toolchains else model.Lock()):
            d.changed.append(f"toolchain {name}")
    if not d and text != model.dumps(new):
        d.changed.append(f"{model.LOCK} text (comments, order or formatting differ from what `ppm lock` writes)")
    return d


def check_lock(root: Path, *, offline: bool = False) -> LockResult:
    """`ppm lock --check`: resolve ppm.toml again (the HTTP cache revalidated; with --offline only
    the cache) and compare the whole of ppm.lock with what `ppm lock` would write. The lock's own
    manifest digest proves nothing (a pull request can edit the body and keep the header); only
    a record this machine's ppm wrote after a full check answers without resolving."""
    # httpx costs start-up on the `ppm lock` no-op path
    from ppm.lockfile.resolve import lock_project

    path = root / model.LOCK
    urls = dict(registry_urls())
    if not path.exists():
        return LockResult("stale", Diff(added=[f"{model.LOCK} does not exist"]), path)
    if checkrecord.passed(root, urls):
        return LockResult("fresh", Diff(), path)
    text = path.read_text(encoding="utf-8")
    old = model.loads(text, path)
    with _http(offline) as http:
        # the found toolchains' records as they are: this machine's tools are not the lock's question
        new = lock_project(root, http=http, old=old, record_found=False)
    if model.dumps(new) == text:
        checkrecord.remember(root, urls)
        return LockResult("fresh", Diff(), path)
    return LockResult("stale", _whole_diff(old, new, text), path)


# ---------------------------------------------------------------------------------------------
# add / remove


@dataclass(frozen=True)
class AddSpec:
    ecosystem: str
    name: str
    spec: str  # "" = pick the newest and write a requirement for it
    features: tuple[str, ...] = ()
    # where it is needed (lockfile/conditions.py): a PEP 508 marker, a cargo cfg, npm os/cpu,
    # ppm's targets
    marker: str = ""
    cfg: str = ""
    targets: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    cpu: tuple[str, ...] = ()

    def root(self, component: str) -> request.Root:
        return request.Root(self.ecosystem, self.name, self.spec, component, self.features, targets=self.targets,
                            marker=self.marker, cfg=self.cfg, os=self.os, cpu=self.cpu)


def parse_add(arg: str, features: Iterable[str] = (), *, targets: Iterable[str] = (), os: Iterable[str] = (),
              cpu: Iterable[str] = ()) -> AddSpec:
    """`pypi:httpx>=0.27`, `pypi:httpx[socks]`, `pypi:pywin32>=306; sys_platform == 'win32'`, `npm:preact@^10`,
    `npm:@types/node@20`, `cargo:serde@1`, `cargo:windows-sys@0.52; cfg(windows)`,
    `go:github.com/google/uuid@v1.6.0`, `maven:com.google.guava:guava@33.0.0-jre`. `targets` (any
    ecosystem) and npm's `os`/`cpu` restrict where the package is needed."""
    eco, sep, rest = arg.partition(":")
    if not sep or eco not in request_ecosystems():
        raise LockError(f"{arg!r}: start with an ecosystem: {', '.join(request_ecosystems())} (like pypi:httpx>=0.27)")
    feats = tuple(features) if eco == "cargo" else ()
    where = {"targets": tuple(sorted(set(targets)))}
    if (os or cpu) and eco != "npm":
        raise LockError(f"{arg!r}: --os and --cpu are npm's conditions; use --targets for {eco}")
    try:
        where["targets"] = tuple(sorted(set(request.concrete_targets(list(where["targets"]))))) if where["targets"] else ()
    except LookupError as e:
        raise LockError(f"{arg!r}: {e}") from None
    if eco == "pypi":
        # packaging costs ~100 ms to import: only in the pypi branches, so the `ppm lock` no-op
        # (which imports this module) does not pay for it
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        try:
            r = Requirement(rest)
        except InvalidRequirement as e:
            raise LockError(f"{arg!r}: not a PEP 508 requirement: {e}") from None
        return AddSpec(eco, canonicalize_name(r.name), str(r.specifier), tuple(sorted(r.extras)),
                       marker=str(r.marker) if r.marker else "", targets=where["targets"])
    rest, semi, cond = rest.partition(";")
    rest, cond = rest.strip(), cond.strip()
    if semi and eco != "cargo":
        raise LockError(f"{arg!r}: a `; condition` is PyPI's marker or cargo's cfg(...); use --targets for {eco}")
    if semi:
        conditions.check(eco, rest, cfg=cond)
    i = rest.rfind("@")
    name, spec = (rest[:i], rest[i + 1:]) if i > 0 else (rest, "")
    if not name:
        raise LockError(f"{arg!r}: no package name")
    if eco == "maven" and name.count(":") != 1:
        raise LockError(f"{arg!r}: Maven packages are groupId:artifactId@version")
    ecosystems.check(eco, name, where=f"ppm add {arg}")
    return AddSpec(eco, name, spec, feats, cfg=cond if semi else "", targets=where["targets"], os=tuple(os), cpu=tuple(cpu))


def request_ecosystems() -> tuple[str, ...]:
    return ECOSYSTEMS


def _default_spec(eco: str, version: str) -> str:
    if eco == "pypi":
        return f">={version}"
    if eco == "npm":
        return f"^{version}"
    return version  # cargo: a bare version is a caret requirement; go and maven: exact


def _toml_value(spec: str, features: tuple[str, ...], eco: str, s: AddSpec | None = None):  # noqa: ANN202
    # tomlkit costs start-up on the `ppm lock` no-op path
    import tomlkit

    where = {k: v for k, v in (("markers", s.marker), ("target", s.cfg), ("targets", list(s.targets)), ("os", list(s.os)),
                               ("cpu", list(s.cpu))) if v} if s else {}
    if not features and not where:
        return spec
    t = tomlkit.inline_table()
    t["version"] = spec
    if features:
        t["extras" if eco == "pypi" else "features"] = list(features)
    t.update(where)
    return t


def _deps_table(doc, component: str | None, eco: str, create: bool):  # noqa: ANN001, ANN202
    # tomlkit costs start-up on the `ppm lock` no-op path
    import tomlkit

    if component is None:
        parent = doc
    else:
        comps = doc.get("components")
        if comps is None or component not in comps:
            raise LockError(f"no component {component!r} in {MANIFEST}")
        parent = comps[component]
    if "dependencies" not in parent:
        if not create:
            return None
        parent["dependencies"] = tomlkit.table(is_super_table=True)
    deps = parent["dependencies"]
    if eco not in deps:
        if not create:
            return None
        deps[eco] = tomlkit.table()
    return deps[eco]


def _drop_if_empty(doc, component: str | None, eco: str) -> None:  # noqa: ANN001
    """After a removal: drop [..dependencies.ECO] and then [..dependencies] when nothing is left in
    them (no keys, no comments), so that `ppm remove` undoes what `ppm add` created."""
    # tomlkit costs start-up on the `ppm lock` no-op path
    from tomlkit.items import Comment, Table

    parent = doc if component is None else doc["components"][component]

    def bare(t) -> bool:  # noqa: ANN001
        if not isinstance(t, Table) or len(t):
            return False
        return not any(isinstance(item, Comment) for _, item in t.value.body) and not t.trivia.comment
    deps = parent.get("dependencies")
    if deps is None:
        return
    if eco in deps and bare(deps[eco]):
        del deps[eco]
    if bare(deps):
        del parent["dependencies"]


def _write_manifest(root: Path, text: str) -> None:
    # atomic, and ppm.toml keeps its mode (not mkstemp's 0600); newline="" kept by writing bytes
    atomic_write_bytes(root / MANIFEST, text.encode("utf-8"))


def add(root: Path, args: list[str], *, features: Iterable[str] = (), to: str | None = None,
        offline: bool = False, targets: Iterable[str] = (), os: Iterable[str] = (),
        cpu: Iterable[str] = ()) -> tuple[list[str], LockResult]:
    """Add packages to ppm.toml and re-lock. Everything is resolved first: on any error ppm.toml
    and ppm.lock are left untouched."""
    # tomlkit, and httpx through resolve, cost start-up on the `ppm lock` no-op path
    import tomlkit

    from ppm.lockfile.resolve import lock_project, resolve_roots

    specs = [parse_add(a, features, targets=targets, os=os, cpu=cpu) for a in args]
    m = manifest_mod.load(root)
    if to is not None and to not in m.components:
        raise LockError(f"no component {to!r} in {MANIFEST}; components: {', '.join(sorted(m.components)) or 'none'}")
    if to is not None and m.components[to].builder != "cargo" and any(s.ecosystem == "cargo" for s in specs):
        # `ppm sync` writes a component's crates into its Cargo.toml, which only a cargo component
        # has: refuse now, before ppm.toml changes, rather than fail at sync or build time
        crates = sorted(n for n, c in m.components.items() if c.builder == "cargo")
        raise LockError(f"component {to!r} is built by {m.components[to].builder}, which cannot use crates",
                        hint=f"add crates to a cargo component ({', '.join(crates)})" if crates else "add crates to a cargo component")
    targets = request.concrete_targets(m.targets)
    path = root / model.LOCK
    old = _read_old(path)
    new_roots = [s.root(to or model.ALL_COMPONENTS) for s in specs]
    with _http(offline) as http:
        # 1. each new package alone, so the error says which ecosystem refused what
        chosen: dict[AddSpec, str] = {}
        for s, r in zip(specs, new_roots, strict=True):
            if r.conditional and not r.targets_in(targets):
                raise LockError(f"cannot add {s.ecosystem}:{s.name}: its condition holds on none of the project's targets "
                                f"({', '.join(targets)})", hint="add the target to [project] targets, or change the condition")
            try:
                pkgs = resolve_roots([r], targets, http=http, old=old)
            except ResolutionError as e:
                raise ResolutionError(f"cannot add {s.ecosystem}:{s.name}{' ' + s.spec if s.spec else ''}: {e}") from None
            top = next(p for p in pkgs if p.name == r.name or p.name.lower() == r.name.lower())
            chosen[s] = top.version
        # 2. edit the document in memory, then resolve the whole project from it
        text = (root / MANIFEST).read_text(encoding="utf-8")
        doc = tomlkit.parse(text)
        written = []
        for s in specs:
            spec = s.spec or _default_spec(s.ecosystem, chosen[s])
            table = _deps_table(doc, to, s.ecosystem, create=True)
            table[s.name] = _toml_value(spec, s.features, s.ecosystem, s)
            cond = "; ".join(x for x in (s.marker, s.cfg, ", ".join(s.targets), " ".join(s.os + s.cpu)) if x)
            written.append(f"{s.ecosystem}:{s.name} = {spec!r}" + (f" (features {', '.join(s.features)})" if s.features else "")
                           + (f" (only where {cond})" if cond else ""))
        new_text = tomlkit.dumps(doc)
        backup = text
        _write_manifest(root, new_text)
        try:
            new = lock_project(root, http=http, old=old)
        except BaseException:
            _write_manifest(root, backup)  # the whole project did not resolve: leave ppm.toml as it was
            raise
    d = diff(old, new)
    wrote = model.write(path, new)
    return written, LockResult("written" if wrote else "unchanged", d, path)


def remove(root: Path, args: list[str], *, from_component: str | None = None, offline: bool = False) -> tuple[list[str], LockResult]:
    # tomlkit, and httpx through resolve, cost start-up on the `ppm lock` no-op path
    import tomlkit

    from ppm.lockfile.resolve import lock_project

    text = (root / MANIFEST).read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    removed = []
    comps = doc.get("components") or {}
    if from_component is not None and from_component not in comps:
        raise LockError(f"no component {from_component!r} in {MANIFEST}; components: {', '.join(sorted(comps)) or 'none'}")
    for a in args:
        eco, sep, name = a.partition(":")
        if not sep or eco not in request_ecosystems():
            raise LockError(f"{a!r}: name the ecosystem: {', '.join(request_ecosystems())} (like pypi:httpx)")
        if eco == "pypi":
            # packaging costs start-up on the `ppm lock` no-op path
            from packaging.utils import canonicalize_name

            name = canonicalize_name(name)

        def find(component: str | None, eco: str = eco, name: str = name):  # noqa: ANN202
            table = _deps_table(doc, component, eco, create=False)
            key = next((k for k in (table or {}) if k == name or (eco == "pypi" and re.sub(r"[-_.]+", "-", k).lower() == name)), None)
            return table, key

        where = from_component
        table, key = find(where)
        if key is None and from_component is None:
            # not project-wide: the one component that declares it, if exactly one does
            holders = [c for c in comps if find(c)[1] is not None]
            if len(holders) == 1:
                where = holders[0]
                table, key = find(where)
            elif holders:
                raise LockError(f"{a!r} is in several components' dependencies: {', '.join(holders)}",
                                hint="say which with --from COMPONENT")
        if key is None:
            place = f"components.{from_component}.dependencies.{eco}" if from_component else f"dependencies.{eco}"
            raise LockError(f"{a!r} is not in [{place}] of {MANIFEST}" + ("" if from_component else " nor in any component's dependencies"))
        del table[key]
        _drop_if_empty(doc, where, eco)
        removed.append(f"{eco}:{key}" + (f" (from {where})" if where else ""))
    path = root / model.LOCK
    old = _read_old(path)
    new_text = tomlkit.dumps(doc)
    if new_text.endswith("\n\n") and not text.endswith("\n\n"):
        new_text = new_text.rstrip("\n") + "\n"  # the blank line before a table that went away
    _write_manifest(root, new_text)
    try:
        with _http(offline) as http:
            new = lock_project(root, http=http, old=old)
    except BaseException:
        _write_manifest(root, text)
        raise
    d = diff(old, new)
    wrote = model.write(path, new)
    return removed, LockResult("written" if wrote else "unchanged", d, path)


# ---------------------------------------------------------------------------------------------
# tree / why


def _root_keys(root: Path, lk: model.Lock) -> list[tuple[str, str]]:
    """(component, package key) of each direct dependency, from the manifest and the lock."""
    data = tomllib.loads((root / MANIFEST).read_text(encoding="utf-8"))
    comps = {n: c.get("dependencies", {}) for n, c in (data.get("components") or {}).items()}
    out = []
    for r in request.roots(data.get("dependencies", {}), comps):
        name = r.name
        if r.ecosystem == "pypi":
            # packaging costs start-up on the `ppm lock` no-op path
            from packaging.utils import canonicalize_name

            name = canonicalize_name(name)
        cands = [p for p in lk.find(r.ecosystem, name) if r.component in p.components]
        if r.ecosystem == "npm":
            cands = [p for p in cands if f"node_modules/{name}" in p.extra.get("paths", [])] or cands  # type: ignore[operator]
        out += [(r.component, p.key) for p in cands[:1]]
    return out


def tree(root: Path, *, ecosystem: str | None = None, depth: int = 50) -> list[str]:
    lk = model.read(root / model.LOCK) if (root / model.LOCK).exists() else None
    if lk is None:
        raise LockError(f"no {model.LOCK}; run `ppm lock` first")
    lines: list[str] = []
    seen: set[str] = set()

    def walk(key: str, prefix: str, last: bool, level: int) -> None:
        p = lk.packages[key]
        mark = " (*)" if key in seen and p.dependencies else ""
        feats = f" [{', '.join(p.features)}]" if p.features else ""
        lines.append(f"{prefix}{'└── ' if last else '├── '}{p.name} {p.version}{feats}{mark}")
        if mark or level >= depth:
            return
        seen.add(key)
        kids = p.dependencies
        for i, k in enumerate(kids):
            walk(k, prefix + ("    " if last else "│   "), i == len(kids) - 1, level + 1)

    by_comp: dict[str, list[str]] = {}
    for comp, key in _root_keys(root, lk):
        if ecosystem is None or key.startswith(ecosystem + ":"):
            by_comp.setdefault(comp, []).append(key)
    for comp in sorted(by_comp):
        lines.append("project" if comp == model.ALL_COMPONENTS else f"component {comp}")
        keys = sorted(by_comp[comp])
        for i, k in enumerate(keys):
            walk(k, "", i == len(keys) - 1, 1)
    return lines


def why(root: Path, package: str) -> list[str]:
    """Every path from a direct dependency to `package` ('eco:name' or 'name')."""
    lk = model.read(root / model.LOCK) if (root / model.LOCK).exists() else None
    if lk is None:
        raise LockError(f"no {model.LOCK}; run `ppm lock` first")
    eco, sep, name = package.partition(":")
    targets = {k for k, p in lk.packages.items() if (p.name == (name if sep else package)) and (not sep or p.ecosystem == eco)}
    if not targets:
        raise LockError(f"{package!r} is not in {model.LOCK}")
    paths: list[str] = []
    for comp, start in _root_keys(root, lk):
        stack = [(start, [start])]
        while stack:
            k, trail = stack.pop()
            if k in targets:
                who = "project" if comp == model.ALL_COMPONENTS else f"component {comp}"
                paths.append(f"{who}: " + " -> ".join(lk.packages[t].name + " " + lk.packages[t].version for t in trail))
                continue
            for d in lk.packages[k].dependencies:
                if d not in trail:
                    stack.append((d, trail + [d]))
    return sorted(set(paths))


def try_noop(argv: list[str]) -> int | None:
    """For ppm/__main__.py, before the CLI framework loads: answer `ppm lock` when ppm.lock is fresh
    and `ppm lock --check` when this machine already checked exactly these files (exit code),
    else None to take the full path."""
    if argv not in ([], ["--check"]):
        return None
    found = projectroot.find(os.getcwd())
    if found is None:
        return None
    root = Path(found)
    if argv == ["--check"]:
        if checkrecord.passed(root, dict(registry_urls())):
            print("ppm.lock is up to date")
            return 0
        return None
    if is_fresh(root):
        print("ppm.lock is up to date")
        return 0
    return None
