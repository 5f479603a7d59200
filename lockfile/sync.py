"""`ppm sync`: make each component's native world match ppm.lock, so builders run in locked mode.

For every world (lockfile/export.py) it
  1. downloads every artifact the builds need and checks it against the lock's hash, into a
     content-addressed store (<cache>/artifacts); nothing else is touched until all of them
     verified, so a mismatch leaves the project as it was;
  2. writes the native manifests' dependency lists from ppm.toml (Cargo.toml [dependencies],
     package.json "dependencies"; only the names ppm manages) and the native lockfiles;
  3. lays out what the locked tools read offline:
       cargo   .ppm/vendor/cargo/<name>-<version>/  (a `directory` source: cargo --locked --offline)
       npm     <component>/node_modules/            (what `npm ci` would install, scripts not run)
       pypi    .ppm/vendor/pypi/<component>/site/   (pip install --require-hashes --no-deps --target)
       go      .ppm/vendor/go/                      (a GOPROXY=file:// tree: go build -mod=readonly)
       maven   .ppm/vendor/maven/                   (a repository layout) + <component>.classpath
Each directory is built beside its final place and renamed into it.

`ensure_synced` is what `ppm build` calls: one read of ppm.lock and ppm.toml and a digest
compare with the last sync's record when nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ppm.lockfile import model
from ppm.lockfile.errors import HashMismatch
from ppm.lockfile.errors import LockError
from ppm.lockfile.errors import RegistryError

if TYPE_CHECKING:
    import tarfile

    from ppm.lockfile import export
    from ppm.core.manifest import Manifest

# Kept light at import time: `ppm build` imports this for ensure_synced and the builders'
# helpers; what only a real sync needs (tarfile, subprocess, threads, the exporters) is
# imported where it is used.

SYNC_FORMAT = 1
STATE = Path(".ppm") / "sync" / "state.json"
VENDOR = Path(".ppm") / "vendor"
PROJECT_DIR = Path(".ppm") / "sync" / "project"  # native files of worlds no component owns

Report = Callable[[str], None]


@dataclass
class SyncResult:
    lines: list[str] = field(default_factory=list)
    downloaded: int = 0
    written: list[str] = field(default_factory=list)  # project-relative files (re)written


# ---------------------------------------------------------------------------------------------
# The fast check `ppm build` runs


def _has_deps(manifest: "Manifest") -> bool:
    return bool(manifest.dependencies) or any(c.dependencies for c in manifest.components.values())


def _digest(root: Path) -> str:
    from ppm.lockfile.project import MANIFEST

    h = hashlib.sha256(f"sync {SYNC_FORMAT} {sys.version_info[:2]}\n".encode())
    for name in (model.LOCK, MANIFEST):
        try:
            h.update((root / name).read_bytes())
        except FileNotFoundError:
            h.update(b"-")
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def _read_state(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("format") == SYNC_FORMAT else {}
    except (OSError, ValueError):
        return {}


def is_synced(root: Path) -> bool:
    state = _read_state(root)
    return bool(state) and state.get("digest") == _digest(root) and all((root / f).exists() for f in state.get("outputs", []))


def ensure_synced(root: Path, manifest: "Manifest", *, report: Report | None = None) -> None:
    """Sync when ppm.lock or ppm.toml changed since the last sync (or its outputs went missing).
    No network and no parsing beyond a digest compare when nothing changed. Raises LockError when
    the manifest declares dependencies and ppm.lock is missing or out of date."""
    lock_exists = (root / model.LOCK).is_file()
    if not lock_exists and not _has_deps(manifest):
        return
    if is_synced(root):
        return
    sync(root, manifest, report=report)


# ---------------------------------------------------------------------------------------------
# What builders read


def _state_world(root: Path, component: str, ecosystem: str) -> dict[str, Any] | None:
    for w in _read_state(root).get("worlds", []):
        if w.get("component") == component and w.get("ecosystem") == ecosystem:
            return w
    return None


def cargo_args(root: Path, component: str) -> list[str]:
    """Extra `cargo build` arguments for a component whose crates ppm vendored: offline, every
    registry it locked from replaced by the vendor directory. [] when ppm did not sync it."""
    w = _state_world(root, component, "cargo")
    if not w:
        return []
    # Cargo.lock names crates.io (lockfile/export.py): replace it with the vendored copies.
    return ["--offline", "--config", 'source.crates-io.replace-with="ppm-vendor"',
            "--config", 'source.ppm-vendor.directory="{project}/.ppm/vendor/cargo"']


def python_paths(root: Path, component: str) -> list[str]:
    """The site directory holding a component's locked PyPI packages ({project}-relative), if synced."""
    w = _state_world(root, component, "pypi")
    return ["{project}/" + (VENDOR / "pypi" / component / "site").as_posix()] if w else []


def go_env(root: Path, component: str) -> dict[str, str]:
    """Environment for `go build -mod=readonly` against the synced module tree."""
    if not _state_world(root, component, "go"):
        return {}
    return {"GOPROXY": "file://{project}/.ppm/vendor/go", "GOFLAGS": "-mod=readonly", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}


def maven_classpath(root: Path, component: str) -> list[str]:
    w = _state_world(root, component, "maven")
    return list(w.get("classpath", [])) if w else []


# ---------------------------------------------------------------------------------------------
# Downloads


def _store_dir() -> Path:
    from ppm.core.paths import cache_dir

    return cache_dir() / "artifacts"


def _store_path(expected: str) -> Path:
    h = hashlib.sha256(expected.encode()).hexdigest()
    return _store_dir() / h[:2] / h


def _check(body: bytes, expected: str, pkg: model.Package, url: str) -> None:
    from ppm.lockfile.registries.http import verify

    try:
        verify(body, expected, url=url)
    except HashMismatch as e:
        got = str(e.message).rsplit(", got ", 1)[-1]
        raise HashMismatch(
            f"{pkg.ecosystem} package {pkg.name} {pkg.version} from {pkg.source}: {url} does not match ppm.lock "
            f"(expected {expected}, got {got}); nothing was changed",
            hint="the registry or a proxy served other bytes than were locked: do not trust them; if the "
                 "package was republished on purpose, `ppm lock --upgrade-package` re-locks it") from None


@dataclass(frozen=True)
class _Fetch:
    pkg: model.Package = field(compare=False, hash=False)
    url: str = ""
    hash: str = ""


def _hash_go(body: bytes, url: str) -> str:
    from ppm.lockfile.registries.go import hash_mod
    from ppm.lockfile.registries.go import hash_zip

    return hash_zip(body) if url.endswith(".zip") else hash_mod(body)


def _fetch_all(jobs: list[_Fetch], *, offline: bool, report: Report | None) -> dict[tuple[str, str], Path]:
    """(url, hash) -> a verified file in the store. All or nothing: raises before returning if any failed."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from ppm.lockfile.registries.http import HttpClient
    from ppm.lockfile.registries.http import NotFound

    out: dict[tuple[str, str], Path] = {}
    todo: list[_Fetch] = []
    for j in dict.fromkeys(jobs):
        p = _store_path(j.hash)
        if p.is_file():
            out[(j.url, j.hash)] = p
        else:
            todo.append(j)
    if not todo:
        return out
    if report:
        report(f"downloading {len(todo)} locked artifact{'s' if len(todo) != 1 else ''}")
    errors: list[BaseException] = []
    with HttpClient(offline=offline) as http:
        def one(j: _Fetch) -> None:
            try:
                if offline:
                    raise RegistryError(j.pkg.ecosystem, j.pkg.name, f"{j.pkg.version} is not downloaded and --offline was given",
                                        url=j.url)
                try:
                    body = http.get(j.url, ecosystem=j.pkg.ecosystem, package=j.pkg.name, cache=False).content
                except NotFound:
                    raise RegistryError(j.pkg.ecosystem, j.pkg.name, f"{j.pkg.version}: locked artifact not found", url=j.url) from None
                if j.hash.startswith("h1:"):
                    got = _hash_go(body, j.url)
                    if got != j.hash:
                        raise HashMismatch(
                            f"{j.pkg.ecosystem} package {j.pkg.name} {j.pkg.version} from {j.pkg.source}: {j.url} does not "
                            f"match ppm.lock (expected {j.hash}, got {got}); nothing was changed",
                            hint="the module proxy served other bytes than were locked: do not trust them")
                else:
                    _check(body, j.hash, j.pkg, j.url)
                dest = _store_path(j.hash)
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                os.replace(tmp, dest)
                out[(j.url, j.hash)] = dest
            except BaseException as e:  # noqa: BLE001 - reported below, first one wins
                errors.append(e)

        with ThreadPoolExecutor(max_workers=min(16, len(todo))) as ex:
            list(ex.map(one, todo))
    if errors:
        mism = [e for e in errors if isinstance(e, HashMismatch)]
        raise (mism or errors)[0]
    return out


# ---------------------------------------------------------------------------------------------
# Host platform filters


def _host_target() -> str:
    from ppm import targets as targets_mod

    return targets_mod.host().name


def _npm_fits(p: model.Package) -> bool:
    plat = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    machine = (os.uname().machine if hasattr(os, "uname") else "x86_64").lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)

    def ok(values: Any, here: str) -> bool:
        vals = list(values or [])
        if not vals:
            return True
        neg = [v[1:] for v in vals if v.startswith("!")]
        pos = [v for v in vals if not v.startswith("!")]
        return here not in neg and (not pos or here in pos)

    return ok(p.extra.get("os"), plat) and ok(p.extra.get("cpu"), arch)


def _needed_on_host(ecosystem: str, p: model.Package) -> bool:
    """Whether this machine's build needs the package (issue 8: ppm.lock records the targets that
    reach a package when not all do). Cargo and Go need every locked package in their locked,
    offline modes whatever the target (they pick per target themselves: cfg tables, build
    constraints), so only PyPI, npm and Maven packages are left out here."""
    if not p.targets or ecosystem in ("cargo", "go"):
        return True
    return _host_target() in p.targets


def _wheels_for_host(p: model.Package) -> list[model.Artifact]:
    from packaging.utils import parse_wheel_filename

    from ppm.lockfile import export

    from ppm.lockfile.resolvers.pypi import wheel_fits

    host = _host_target()
    out = []
    for a in p.artifacts:
        fn = export._wheel_name(a.url)
        try:
            tags = parse_wheel_filename(fn)[3]
        except Exception:
            continue
        if wheel_fits(tags, host):
            out.append(a)
    return out


# ---------------------------------------------------------------------------------------------
# Atomic placement


def _swap_dir(new: Path, final: Path) -> None:
    from ppm.core.fsutil import rmtree

    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{os.urandom(4).hex()}")
        os.rename(final, trash)
        os.rename(new, final)
        rmtree(trash)
    else:
        os.rename(new, final)


def _write_text(root: Path, rel: Path, text: str, result: SyncResult) -> None:
    from ppm.core.fsutil import atomic_write_text

    p = root / rel
    try:
        if p.read_text(encoding="utf-8") == text:
            return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(p, text)
    result.written.append(rel.as_posix())


def _safe_members(t: "tarfile.TarFile", strip: int, what: str) -> Iterable[tuple[tarfile.TarInfo, str]]:
    for m in t.getmembers():
        parts = [x for x in m.name.replace("\\", "/").split("/") if x not in ("", ".")]
        if ".." in parts or m.name.startswith("/"):
            raise LockError(f"{what}: unsafe path {m.name!r} in the archive")
        if len(parts) <= strip or not (m.isfile() or m.isdir()):
            continue
        yield m, "/".join(parts[strip:])


def _extract_tgz(data_path: Path, dest: Path, strip: int, what: str) -> dict[str, str]:
    """Extract regular files (stripping `strip` leading path parts); rel path -> sha256."""
    import tarfile

    sums: dict[str, str] = {}
    with tarfile.open(data_path, "r:gz") as t:
        for m, rel in _safe_members(t, strip, what):
            target = dest / rel
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            f = t.extractfile(m)
            if f is None:
                continue
            body = f.read()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)
            sums[rel] = hashlib.sha256(body).hexdigest()
    return sums


# ---------------------------------------------------------------------------------------------
# Native manifests (only the names ppm manages)


def _cargo_spec(r: Any) -> Any:
    import tomlkit

    if not r.features and r.default_features and not r.optional:
        return r.spec or "*"
    t = tomlkit.inline_table()
    t["version"] = r.spec or "*"
    if r.features:
        t["features"] = list(r.features)
    if not r.default_features:
        t["default-features"] = False
    return t


def _place_cargo_root(doc: Any, deps: Any, r: Any, managed_before: list[str]) -> None:
    """Per-target roots (issue 8) in cargo's own words: a root with a `cfg(...)` condition or a
    `targets = [...]` restriction goes under [target.'cfg(...)'.dependencies], so cargo compiles it
    only for those targets (Cargo.lock still holds it: cargo resolves every platform)."""
    import tomlkit

    from ppm.lockfile import conditions

    cfg = conditions.cargo_cfg(r.cfg, r.targets)
    for spec in (doc.get("target") or {}).values():  # where an earlier sync put it
        table = (spec or {}).get("dependencies")
        if table is not None and r.name in table and r.name in managed_before:
            del table[r.name]
    if not cfg:
        deps[r.name] = _cargo_spec(r)
        return
    if r.name in deps and r.name in managed_before:
        del deps[r.name]
    if "target" not in doc:
        doc["target"] = tomlkit.table(is_super_table=True)
    if cfg not in doc["target"]:
        doc["target"][cfg] = tomlkit.table(is_super_table=True)
    if "dependencies" not in doc["target"][cfg]:
        doc["target"][cfg]["dependencies"] = tomlkit.table()
    doc["target"][cfg]["dependencies"][r.name] = _cargo_spec(r)


def _sync_cargo_toml(root: Path, comp_dir: Path, world: export.World, managed_before: list[str], result: SyncResult) -> list[str]:
    import tomlkit

    path = comp_dir / "Cargo.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{world.label}: {path.relative_to(root)} does not exist; the cargo builder needs a crate there") from None
    doc = tomlkit.parse(text)
    deps = doc.get("dependencies")
    if deps is None:
        deps = tomlkit.table()
        doc["dependencies"] = deps
    names = sorted({r.name for r, _ in world.direct})
    for n in managed_before:
        if n not in names and n in deps:
            del deps[n]
    for r, _ in sorted(world.direct, key=lambda x: x[0].name):
        _place_cargo_root(doc, deps, r, managed_before)
    # cargo --locked needs every dependency in Cargo.lock, and ppm writes Cargo.lock from ppm.toml
    tables = [("dependencies", doc.get("dependencies") or {}), ("build-dependencies", doc.get("build-dependencies") or {}),
              ("dev-dependencies", doc.get("dev-dependencies") or {})]
    for cfg, spec in (doc.get("target") or {}).items():
        for k in ("dependencies", "build-dependencies", "dev-dependencies"):
            tables.append((f"target.{cfg}.{k}", (spec or {}).get(k) or {}))
    for where, table in tables:
        for n in table:
            if n not in names:
                raise LockError(f"{path.relative_to(root)} [{where}] names {n!r}, which ppm.toml does not declare; "
                                f"ppm writes Cargo.lock from ppm.lock",
                                hint=f"declare it in ppm.toml: `ppm add cargo:{n} --to {world.component}`, and delete it from Cargo.toml")
    new = tomlkit.dumps(doc)
    _write_text(root, path.relative_to(root), new, result)
    return names


def _sync_package_json(root: Path, comp_dir: Path, world: export.World, managed_before: list[str], result: SyncResult) -> list[str]:
    from ppm.lockfile import export

    path = comp_dir / "package.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        indent = 2
    except FileNotFoundError:
        doc = {"name": world.component or "project", "version": "0.0.0", "private": True}
        indent = 2
    except ValueError as e:
        raise LockError(f"{path.relative_to(root)}: not JSON ({e})") from None
    want = export.npm_root_dependencies(world)
    deps = {k: v for k, v in (doc.get("dependencies") or {}).items() if k not in managed_before}
    deps.update(want)
    extra = sorted(set(deps) - set(want))
    for k in ("devDependencies", "optionalDependencies", "peerDependencies"):
        extra += sorted(doc.get(k) or {})
    if extra:
        raise LockError(f"{path.relative_to(root)} names {', '.join(map(repr, extra))}, which ppm.toml does not declare; "
                        f"ppm writes package-lock.json from ppm.lock",
                        hint=f"declare them in ppm.toml (`ppm add npm:NAME --to {world.component}`) and delete them from package.json")
    doc["dependencies"] = dict(sorted(deps.items()))
    _write_text(root, path.relative_to(root), json.dumps(doc, indent=indent, ensure_ascii=False) + "\n", result)
    return sorted(want)


# ---------------------------------------------------------------------------------------------
# Per-ecosystem layouts


def _fetches(world: export.World) -> list[_Fetch]:
    out = []
    for p in world.packages:
        if world.ecosystem == "npm" and not _npm_fits(p):
            continue
        if not _needed_on_host(world.ecosystem, p):
            continue
        arts = _wheels_for_host(p) if world.ecosystem == "pypi" else p.artifacts
        if world.ecosystem == "pypi" and not arts:
            continue  # a package only some other target needs
        out += [_Fetch(p, a.url, a.hash) for a in arts]
        if world.ecosystem == "go":
            base = next((a.url[: -len(f"{p.version}.mod")] for a in p.artifacts if a.url.endswith(".mod")), None)
            for s in p.extra.get("go-mod-sums", []):  # type: ignore[union-attr]
                v, h = str(s).split(" ", 1)
                if base:
                    out.append(_Fetch(model.Package(p.ecosystem, p.name, v, p.source), f"{base}{v}.mod", h))
            out += _go_graph_mods(p)
    return out


def _go_graph_mods(p: model.Package) -> list[_Fetch]:
    """go.mod files of modules outside the build list that the go command reads when a module of
    it becomes a root (`go build -mod=mod`); only the go.mod, never a zip (issue 8)."""
    from ppm.lockfile.registries.go import escape

    out = []
    for s in p.extra.get("go-graph-mods", []):  # type: ignore[union-attr]
        m, v, h = (str(s).split(" ", 2) + ["", ""])[:3]
        # the lock is untrusted: these become paths under .ppm/vendor/go
        if not m or m.startswith("/") or {".", ".."} & set(m.split("/")) or "/" in v or v in (".", "..") or not h:
            raise LockError(f"ppm.lock: go:{p.name}@{p.version}: go-graph-mods entry {s!r} is not "
                            "`<module> <version> h1:<hash>`; run `ppm lock` to rewrite it")
        out.append(_Fetch(model.Package(p.ecosystem, m, v, p.source), f"{p.source}{escape(m)}/@v/{v}.mod", h))
    return out


def _vendor_cargo(root: Path, world: export.World, files: dict[tuple[str, str], Path]) -> None:
    vendor = root / VENDOR / "cargo"
    vendor.mkdir(parents=True, exist_ok=True)
    for p in world.packages:
        final = vendor / f"{p.name}-{p.version}"
        art = p.artifacts[0]
        cksum = art.hash.split(":", 1)[1]
        marker = final / ".cargo-checksum.json"
        if marker.is_file():
            try:
                if json.loads(marker.read_text()).get("package") == cksum:
                    continue
            except ValueError:
                pass
        tmp = vendor / f".{final.name}.tmp-{os.urandom(4).hex()}"
        tmp.mkdir()
        sums = _extract_tgz(files[(art.url, art.hash)], tmp, 1, f"crate {p.name} {p.version}")
        (tmp / ".cargo-checksum.json").write_text(json.dumps({"files": dict(sorted(sums.items())), "package": cksum}))
        _swap_dir(tmp, final)


def _install_npm(comp_dir: Path, world: export.World, lock: model.Lock, files: dict[tuple[str, str], Path]) -> None:
    from ppm.lockfile import export

    layout = export._npm_layout(world, lock)
    tmp = comp_dir / f".node_modules.tmp-{os.urandom(4).hex()}"
    tmp.mkdir()
    try:
        for path, p in layout.items():
            if not _npm_fits(p) or not p.artifacts or not _needed_on_host("npm", p):
                continue
            art = p.artifacts[0]
            dest = tmp / path.removeprefix("node_modules/")
            dest.mkdir(parents=True, exist_ok=True)
            _extract_tgz(files[(art.url, art.hash)], dest, 1, f"npm package {p.name} {p.version}")
        _swap_dir(tmp, comp_dir / "node_modules")
    except BaseException:
        from ppm.core.fsutil import rmtree

        rmtree(tmp)
        raise


def _install_pypi(root: Path, world: export.World, files: dict[tuple[str, str], Path]) -> None:
    import subprocess

    from ppm.lockfile import export
    from ppm.core.fsutil import rmtree

    host_pkgs = [p for p in world.packages if _wheels_for_host(p)]
    dest = root / VENDOR / "pypi" / (world.component or "project") / "site"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".site.tmp-{os.urandom(4).hex()}"
    links = dest.parent / f".wheels.tmp-{os.urandom(4).hex()}"
    links.mkdir()
    try:
        for p in host_pkgs:
            for a in _wheels_for_host(p):
                shutil.copyfile(files[(a.url, a.hash)], links / export._wheel_name(a.url))
        req = links / "requirements.txt"
        req.write_text(export.requirements(world, host_pkgs).replace("--index-url", "# index:"))
        tmp.mkdir()
        if host_pkgs:
            # pip's own locked mode: every file must carry a hash that matches (and they were
            # verified on download already); --no-index: nothing but the verified wheels.
            cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--require-hashes", "--no-deps", "--no-index",
                   "--only-binary", ":all:", "--find-links", str(links), "--no-compile", "--disable-pip-version-check",
                   "--no-warn-script-location", "-q", "--target", str(tmp), "-r", str(req)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise LockError(f"{world.label}: pip install --require-hashes failed:\n{r.stderr.strip()[-2000:]}")
        _swap_dir(tmp, dest)
    finally:
        rmtree(links)
        if tmp.exists():
            rmtree(tmp)


def _vendor_go(root: Path, world: export.World, files: dict[tuple[str, str], Path]) -> None:
    from ppm.lockfile.registries.go import escape

    base = root / VENDOR / "go"
    versions: dict[str, set[str]] = {}
    for j in _fetches(world):
        d = base / escape(j.pkg.name) / "@v"
        d.mkdir(parents=True, exist_ok=True)
        name = j.url.rsplit("/", 1)[-1]
        dest = d / name
        if not dest.is_file() or dest.stat().st_size != files[(j.url, j.hash)].stat().st_size:
            tmp = d / f".{name}.tmp"
            shutil.copyfile(files[(j.url, j.hash)], tmp)
            os.replace(tmp, dest)
        if name.endswith(".zip"):
            (d / f"{j.pkg.version}.info").write_text(json.dumps({"Version": j.pkg.version}) + "\n")
        versions.setdefault(j.pkg.name, set()).add(j.pkg.version)
    for m, vs in versions.items():
        d = base / escape(m) / "@v"
        have = {x.strip() for x in (d / "list").read_text().splitlines()} if (d / "list").is_file() else set()
        (d / "list").write_text("".join(f"{v}\n" for v in sorted(have | vs)))


def _vendor_maven(root: Path, world: export.World, files: dict[tuple[str, str], Path]) -> list[str]:
    base = root / VENDOR / "maven"
    cp = []
    for p in world.packages:
        if not _needed_on_host("maven", p):
            continue
        for a in p.artifacts:
            g, art = p.name.split(":", 1)
            fn = a.url.rsplit("/", 1)[-1]
            rel = Path(*g.split(".")) / art / p.version / fn
            dest = base / rel
            if not dest.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(files[(a.url, a.hash)], dest.with_name(fn + ".tmp"))
                os.replace(dest.with_name(fn + ".tmp"), dest)
            if fn.endswith(".jar"):
                cp.append("{project}/" + (VENDOR / "maven" / rel).as_posix())
    return cp


# ---------------------------------------------------------------------------------------------
# ppm sync


def sync(root: Path, manifest: "Manifest | None" = None, *, offline: bool = False, report: Report | None = None) -> SyncResult:
    from ppm.lockfile import export
    from ppm.lockfile.project import is_fresh
    from ppm.core import manifest as manifest_mod

    m = manifest or manifest_mod.load(root)
    result = SyncResult()
    path = root / model.LOCK
    if not path.is_file():
        if _has_deps(m):
            raise LockError(f"ppm.toml declares dependencies but there is no {model.LOCK}", hint="run `ppm lock`")
        lock = model.Lock()
    else:
        if _has_deps(m) and not is_fresh(root):
            raise LockError(f"{model.LOCK} is out of date with ppm.toml", hint="run `ppm lock` (CI: `ppm lock --check` names the difference)")
        lock = model.read(path)
    ws = export.worlds(m, lock) if _has_deps(m) else []
    old_state = _read_state(root)
    old_worlds = {(w.get("component"), w.get("ecosystem")): w for w in old_state.get("worlds", [])}

    # Components whose last managed dependency went away: their native files are rewritten empty,
    # so Cargo.toml / package.json no longer name what ppm.toml dropped.
    current = {(w.component, w.ecosystem) for w in ws}
    for (comp, eco), prev in sorted(old_worlds.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if (comp, eco) not in current and comp in m.components and prev.get("managed"):
            ws.append(export.World(comp, eco, [], []))

    # 1. every download, verified, before anything in the project changes
    jobs = [j for w in ws for j in _fetches(w)]
    files = _fetch_all(jobs, offline=offline, report=report)
    result.downloaded = len({(j.url, j.hash) for j in jobs})

    # 2. native manifests, lockfiles and layouts, world by world
    state_worlds: list[dict[str, Any]] = []
    outputs: list[str] = []
    for w in ws:
        comp_dir = root / m.components[w.component].path if w.component else root / PROJECT_DIR / w.ecosystem
        comp_dir.mkdir(parents=True, exist_ok=True)
        rel_dir = comp_dir.relative_to(root)
        prev = old_worlds.get((w.component, w.ecosystem), {})
        entry: dict[str, Any] = {"component": w.component, "ecosystem": w.ecosystem, "packages": len(w.packages)}
        if w.component and w.ecosystem == "cargo":
            entry["managed"] = _sync_cargo_toml(root, comp_dir, w, prev.get("managed", []), result)
        elif w.component and w.ecosystem == "npm":
            entry["managed"] = _sync_package_json(root, comp_dir, w, prev.get("managed", []), result)
        go_version = export.GO_DEFAULT
        if w.ecosystem == "go":
            mods = [files[(j.url, j.hash)].read_text(encoding="utf-8", errors="replace") for j in _fetches(w)
                    if j.url.endswith(".mod") and any(j.pkg.version == p.version and j.pkg.name == p.name for p in w.packages)]
            go_version = export.go_directive(mods)
        texts = export.export_world(w, lock, comp_dir, go_version=go_version)
        for name, text in sorted(texts.items()):
            _write_text(root, rel_dir / name, text, result)
            outputs.append((rel_dir / name).as_posix())
        world_digest = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()
        entry["digest"] = world_digest
        unchanged = prev.get("digest") == world_digest
        if w.ecosystem == "cargo":
            _vendor_cargo(root, w, files)
            what = f"{len(w.packages)} crates vendored"
        elif w.ecosystem == "npm":
            nm = comp_dir / "node_modules"
            if not (unchanged and nm.is_dir()):
                _install_npm(comp_dir, w, lock, files)
            outputs.append((rel_dir / "node_modules").as_posix())
            what = f"{len(w.packages)} packages in node_modules"
        elif w.ecosystem == "pypi":
            site = root / VENDOR / "pypi" / (w.component or "project") / "site"
            if not (unchanged and site.is_dir()):
                _install_pypi(root, w, files)
            outputs.append(site.relative_to(root).as_posix())
            what = f"{len(w.packages)} packages installed with --require-hashes"
        elif w.ecosystem == "go":
            _vendor_go(root, w, files)
            what = f"{len(w.packages)} modules in the local module proxy"
        else:
            entry["classpath"] = _vendor_maven(root, w, files)
            cp = root / ".ppm" / "sync" / "maven" / f"{w.component or 'project'}.classpath"
            _write_text(root, cp.relative_to(root), os.pathsep.join(x.replace("{project}", str(root)) for x in entry["classpath"]) + "\n", result)
            what = f"{len(w.packages)} artifacts"
        result.lines.append(f"{w.label}, {w.ecosystem}: {', '.join(sorted(texts))}; {what}")
        state_worlds.append(entry)
    state = {"format": SYNC_FORMAT, "digest": _digest(root), "worlds": state_worlds, "outputs": sorted(set(outputs))}
    from ppm.core.fsutil import atomic_write_text

    atomic_write_text(root / STATE, json.dumps(state, indent=1, sort_keys=True) + "\n")
    return result
