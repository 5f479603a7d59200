"""Resolution across ecosystems: split the roots by ecosystem, let each ecosystem's resolver apply
its own rules (lockfile/resolvers/), and gather the packages into one Lock. Versions already in
the old lock are preferred unless an upgrade was asked for, so re-locking changes little."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ppm.core import manifest as manifest_mod
from ppm.lockfile import ecosystems as table
from ppm.lockfile import request, toolchains
from ppm.lockfile.model import Lock, Package
from ppm.lockfile.registries import registry_urls
from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolvers import reaching

ORDER = table.ORDER


def client_for(ecosystem: str, http: HttpClient, url: str):  # noqa: ANN201 - one client class per ecosystem
    return table.client_class(ecosystem)(http, url)


def pinned_from(old: Lock | None, ecosystem: str, upgrade: bool | Iterable[str]) -> dict[str, str]:
    """name -> locked version to prefer (npm may lock several versions of one name: the highest)."""
    if old is None or upgrade is True:
        return {}
    skip = set() if upgrade is False else set(upgrade)
    out: dict[str, str] = {}
    for p in old.by_ecosystem(ecosystem):
        if p.name in skip or f"{ecosystem}:{p.name}" in skip:
            continue
        out.setdefault(p.name, p.version)
    return out


def resolve_roots(roots: Sequence[Root], targets: Sequence[str], *, http: HttpClient,
                  registries: Mapping[str, str] | None = None, old: Lock | None = None,
                  upgrade: bool | Iterable[str] = False, ecosystems: Iterable[str] | None = None) -> list[Package]:
    urls = registry_urls(registries)
    upgrade = upgrade if isinstance(upgrade, bool) else list(upgrade)
    for r in roots:
        table.check(r.ecosystem, r.name, where=f"ppm.toml [dependencies.{r.ecosystem}]" if r.component == "*"
                    else f"ppm.toml [components.{r.component}.dependencies.{r.ecosystem}]")

    def one(eco: str) -> list[Package]:
        # a root whose conditions hold on none of the project's targets is not needed at all
        eco_roots = [r for r in roots if r.ecosystem == eco and (not r.conditional or r.targets_in(targets))]
        resolver = table.resolver(eco)
        client = client_for(eco, http, urls[eco])
        pinned = pinned_from(old, eco, upgrade)
        if eco == "pypi":  # markers decide wheels and edges per target: the resolver records targets itself
            pkgs = resolver.resolve(client, eco_roots, targets, pinned=pinned)
        else:
            pkgs = record_targets(resolver.resolve(client, eco_roots, pinned=pinned), eco_roots, targets)
        for p in pkgs:  # what the registry named: checked before it can reach a lock or a path
            table.check(eco, p.name, p.version, where=f"{eco} registry {urls[eco]}")
        return pkgs

    todo = [eco for eco in (ecosystems or ORDER) if any(r.ecosystem == eco and (not r.conditional or r.targets_in(targets))
                                                        for r in roots)]
    if len(todo) <= 1:
        return [p for eco in todo for p in one(eco)]
    # The ecosystems are independent and mostly wait on their registries: resolve them at once
    # (one shared HttpClient), and report the first failure in ORDER.

    for eco in todo:
        table.resolver(eco)  # imports are not parallel-safe to race
    with ThreadPoolExecutor(max_workers=len(todo)) as ex:
        futures = [ex.submit(one, eco) for eco in todo]
        results = [f.exception() or f.result() for f in futures]
    for res in results:
        if isinstance(res, BaseException):
            raise res
    return [p for res in results for p in res]  # type: ignore[union-attr]


def record_targets(pkgs: list[Package], roots: Sequence[Root], targets: Sequence[str]) -> list[Package]:
    """Which targets reach each package, when a root is conditional (cargo `cfg(...)`, npm
    `os`/`cpu`, `targets = [...]`): the union of the targets of the roots it is reached from.
    Resolution itself is not narrowed: Cargo.lock is platform-independent (cargo resolves
    target-specific dependencies for every platform) and npm's lock lists every optional
    platform package; only what each target installs and compiles depends on it."""
    if not any(r.conditional for r in roots):
        return pkgs
    edges = {p.key: p.dependencies for p in pkgs}
    starts = [(t, [p.key for p in pkgs if p.name == r.name]) for r in roots for t in r.targets_in(targets)]
    reach = reaching(starts, edges)
    for p in pkgs:
        on = reach.get(p.key, set())
        p.targets = sorted(on) if on != set(targets) else []
    return pkgs


def lock_project(root: Path, *, http: HttpClient, old: Lock | None = None, upgrade: bool | Iterable[str] = False,
                 registries: Mapping[str, str] | None = None, record_found: bool = True) -> Lock:
    """Resolve the project at `root` into a new Lock (not written). `record_found=False` keeps
    the old lock's records of found toolchains and records none from this machine (`--check`)."""

    m = manifest_mod.load(root)
    urls = registry_urls(registries, root=root)
    comp_deps = {n: c.dependencies for n, c in m.components.items()}
    targets = request.concrete_targets(m.targets)
    roots = request.roots(m.dependencies, comp_deps)
    builders = [c.builder for c in m.components.values()]
    lock = Lock(manifest_digest=request.digest(m.dependencies, comp_deps, targets, urls, builders))
    for p in resolve_roots(roots, targets, http=http, registries=urls, old=old, upgrade=upgrade):
        lock.add(p)
    lock.toolchains = toolchains.pin_project(m, old, upgrade, record_found=record_found)
    return lock
