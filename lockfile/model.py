"""ppm.lock: the lock file format. One TOML file, written deterministically.

Layout (version 1):

    # This file is written by `ppm lock`; edit ppm.toml instead.
    version = 1
    manifest-digest = "sha256:..."

    [toolchain.zig]
    version = "0.13.0"
    source = "https://..."
    digest = "sha256:..."

    [package."pypi:idna@3.7"]
    ecosystem = "pypi"
    name = "idna"
    version = "3.7"
    source = "https://pypi.org/simple/"
    components = ["*"]
    dependencies = []
    artifacts = [
      { url = "https://.../idna-3.7-py3-none-any.whl", hash = "sha256:..." },
    ]

A package's table is keyed by "<ecosystem>:<name>@<version>", so the tables sort into a stable
order, a change touches only its own table, and two branches adding different packages merge
without conflicts. `components = ["*"]` means project-wide ([dependencies]); otherwise the
components whose own dependencies reach the package. No timestamps, no credentials."""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm.core.fsutil import mode_for
from ppm.lockfile import ecosystems, names
from ppm.lockfile.errors import LockError

LOCK = "ppm.lock"
LOCK_VERSION = 1
HEADER = "# This file is written by `ppm lock`; edit ppm.toml instead.\n"
ALL_COMPONENTS = "*"

Scalar = str | bool | int
Extra = Scalar | list[str]


def package_key(ecosystem: str, name: str, version: str) -> str:
    return f"{ecosystem}:{name}@{version}"


def split_key(key: str) -> tuple[str, str, str]:
    """'npm:@types/node@20.1.0' -> ('npm', '@types/node', '20.1.0')."""
    eco, sep, rest = key.partition(":")
    name, at, version = rest.rpartition("@")
    if not sep or not at or not name or not version:
        raise ValueError(f"not a package key (ecosystem:name@version): {key!r}")
    return eco, name, version


@dataclass(frozen=True, order=True)
class Artifact:
    url: str
    hash: str  # "sha256:<hex>", npm's "sha512-<base64>" integrity as given, or Go's "h1:<base64>"


@dataclass
class Package:
    ecosystem: str
    name: str
    version: str
    source: str
    components: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)  # package keys
    artifacts: list[Artifact] = field(default_factory=list)
    features: list[str] = field(default_factory=list)  # cargo features / pypi extras in use
    extra: dict[str, Extra] = field(default_factory=dict)  # ecosystem-specific, e.g. npm `paths`
    # the targets whose roots reach it, when not every target does (empty: every target)
    targets: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return package_key(self.ecosystem, self.name, self.version)


@dataclass
class Toolchain:
    name: str
    version: str
    source: str
    digest: str
    # host platform -> how ppm provisions it there: registry, package, kind, binary, and
    # artifacts [{path, hash, size}] (ppm.toolchains.Pin without name and version)
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Lock:
    manifest_digest: str = ""
    packages: dict[str, Package] = field(default_factory=dict)  # key -> package
    toolchains: dict[str, Toolchain] = field(default_factory=dict)

    def add(self, pkg: Package) -> None:
        self.packages[pkg.key] = pkg

    def by_ecosystem(self, ecosystem: str) -> list[Package]:
        return [p for k, p in sorted(self.packages.items()) if p.ecosystem == ecosystem]

    def find(self, ecosystem: str, name: str) -> list[Package]:
        return [p for p in self.by_ecosystem(ecosystem) if p.name == name]


# ---------------------------------------------------------------------------------------------
# Writing


def _str(s: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(s, ensure_ascii=False)


def _scalar(v: Scalar) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return _str(v)


def _list(items: list[str]) -> str:
    if not items:
        return "[]"
    if len(items) == 1:
        return f"[{_str(items[0])}]"
    return "[\n" + "".join(f"  {_str(i)},\n" for i in items) + "]"


def _bare_or_quoted(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _str(key)


def dumps(lock: Lock) -> str:
    out = [HEADER, f"version = {LOCK_VERSION}\n", f"manifest-digest = {_str(lock.manifest_digest)}\n"]
    for name in sorted(lock.toolchains):
        t = lock.toolchains[name]
        out.append(f"\n[toolchain.{_bare_or_quoted(name)}]\n")
        out.append(f"version = {_str(t.version)}\nsource = {_str(t.source)}\ndigest = {_str(t.digest)}\n")
        for plat in sorted(t.platforms):
            pin = t.platforms[plat]
            out.append(f"\n[toolchain.{_bare_or_quoted(name)}.platform.{_bare_or_quoted(plat)}]\n")
            for k in sorted(pin):
                if k != "artifacts":
                    out.append(f"{_bare_or_quoted(k)} = {_scalar(pin[k])}\n")
            out.append("artifacts = [\n")
            out.extend(f"  {{ path = {_str(a['path'])}, hash = {_str(a['hash'])}, size = {int(a['size'])} }},\n"
                       for a in pin.get("artifacts", []))
            out.append("]\n")
    for key in sorted(lock.packages):
        p = lock.packages[key]
        out.append(f"\n[package.{_str(p.key)}]\n")
        out.append(f"ecosystem = {_str(p.ecosystem)}\nname = {_str(p.name)}\nversion = {_str(p.version)}\n")
        out.append(f"source = {_str(p.source)}\n")
        out.append(f"components = {_list(sorted(set(p.components)))}\n")
        if p.targets:
            out.append(f"targets = {_list(sorted(set(p.targets)))}\n")
        if p.features:
            out.append(f"features = {_list(sorted(set(p.features)))}\n")
        out.append(f"dependencies = {_list(sorted(set(p.dependencies)))}\n")
        for k in sorted(p.extra):
            v = p.extra[k]
            out.append(f"{_bare_or_quoted(k)} = {_list(list(v)) if isinstance(v, list) else _scalar(v)}\n")
        arts = sorted(set(p.artifacts))
        if arts:
            out.append("artifacts = [\n")
            out.extend(f"  {{ url = {_str(a.url)}, hash = {_str(a.hash)} }},\n" for a in arts)
            out.append("]\n")
        else:
            out.append("artifacts = []\n")
    return "".join(out)


def write(path: Path, lock: Lock) -> bool:
    """Write atomically (temp file + rename). Returns False when the file already had this text."""
    text = dumps(lock)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    mode = mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # the lock keeps its mode; a new one follows the umask, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


# ---------------------------------------------------------------------------------------------
# Reading


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return 1


def loads(text: str, path: Path | str = LOCK) -> Lock:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from ppm.core.manifest import toml_error

        raise LockError(toml_error(path, e), hint="delete it and run `ppm lock` to write it anew") from None

    def err(needle: str, message: str) -> LockError:
        return LockError(f"{path}:{_line_of(text, needle)}: {message}", hint="run `ppm lock` to write it anew")

    version = data.get("version")
    if version != LOCK_VERSION:
        raise err("version", f"unsupported lock version {version!r} (this ppm reads version {LOCK_VERSION})")
    digest = data.get("manifest-digest", "")
    if not isinstance(digest, str):
        raise err("manifest-digest", "`manifest-digest` must be a string")
    for k in ("toolchain", "package"):
        if not isinstance(data.get(k, {}), dict):
            raise err(k, f"`{k}` must be a table of tables")
    lock = Lock(manifest_digest=digest)
    for name, t in (data.get("toolchain") or {}).items():
        header = f"[toolchain.{_bare_or_quoted(name)}]"
        if not isinstance(t, dict):
            raise err(header, f"toolchain.{name} must be a table")
        for k in ("version", "source", "digest"):
            if not isinstance(t.get(k), str):
                raise err(header, f"toolchain.{name}: missing string `{k}`")
        plats = t.get("platform") or {}
        if not isinstance(plats, dict) or not all(isinstance(v, dict) for v in plats.values()):
            raise err(header, f"toolchain.{name}.platform must be a table of tables")
        if not _TOOL_NAME.fullmatch(name) or not _TOOL_VERSION.fullmatch(t["version"]):
            raise err(header, f"toolchain {name!r} version {t['version']!r} is refused: a toolchain's name and version "
                              f"become a directory name (letters, digits, '.', '_', '+', '~', '-')")
        for plat, pin in plats.items():
            arts = pin.get("artifacts") if isinstance(pin, dict) else None
            if not isinstance(arts, list) or not all(isinstance(a, dict) and isinstance(a.get("path"), str)
                                                     and isinstance(a.get("hash"), str)
                                                     and type(a.get("size", 0)) is int for a in arts):
                raise err(header, f"toolchain.{name}.platform.{plat}: `artifacts` must list {{path, hash, size}} tables")
            problem = _toolchain_platform_problem(plat, pin)
            if problem:
                raise err(f"[toolchain.{_bare_or_quoted(name)}.platform.{_bare_or_quoted(plat)}]",
                          f"toolchain.{name}.platform.{plat} is refused: {problem}")
        lock.toolchains[name] = Toolchain(name, t["version"], t["source"], t["digest"], {k: dict(v) for k, v in plats.items()})
    known = {"ecosystem", "name", "version", "source", "components", "features", "dependencies", "artifacts", "targets"}
    for key, p in (data.get("package") or {}).items():
        header = f"[package.{_str(key)}]"
        if not isinstance(p, dict):
            raise err(header, f"package {key!r} must be a table")
        for k in ("ecosystem", "name", "version", "source"):
            if not isinstance(p.get(k), str):
                raise err(header, f"package {key!r}: missing string `{k}`")
        if package_key(p["ecosystem"], p["name"], p["version"]) != key:
            raise err(header, f"package {key!r}: table key does not match its ecosystem, name and version")
        # a pull request can edit the lock: a name or version that becomes a path is checked here
        why = ecosystems.name_problem(p["ecosystem"], p["name"]) or names.version_problem(p["version"])
        if why:
            raise err(header, f"package {key!r} is refused: {why}")
        arts = []
        if not isinstance(p.get("artifacts", []), list):
            raise err(header, f"package {key!r}: `artifacts` must be a list of {{url, hash}} tables")
        for a in p.get("artifacts", []):
            if not isinstance(a, dict) or not isinstance(a.get("url"), str) or not isinstance(a.get("hash"), str):
                raise err(header, f"package {key!r}: each artifact needs `url` and `hash` strings")
            arts.append(Artifact(a["url"], a["hash"]))
        for k in ("components", "features", "dependencies", "targets"):
            v = p.get(k, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise err(header, f"package {key!r}: `{k}` must be a list of strings")
        extra = {k: v for k, v in p.items() if k not in known}
        for k, v in extra.items():  # ecosystem-specific: a string, a whole number, a flag or a list of strings
            if not (isinstance(v, (str, bool, int)) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
                raise err(header, f"package {key!r}: `{k}` must be a string, a number, true/false or a list of strings")
        if p["ecosystem"] == "npm":  # where node_modules puts it: a path, so checked like a name
            for where in extra.get("paths", []) if isinstance(extra.get("paths"), list) else [0]:
                if not _npm_path_ok(where, p["name"]):
                    raise err(header, f"package {key!r}: install path {where!r} is refused "
                                      f"(each is node_modules/NAME, nested, ending in {p['name']!r})")
        lock.add(Package(p["ecosystem"], p["name"], p["version"], p["source"], list(p.get("components", [])),
                         list(p.get("dependencies", [])), arts, list(p.get("features", [])), extra,
                         list(p.get("targets", []))))
    for pkg in lock.packages.values():
        for dep in pkg.dependencies:
            if dep not in lock.packages:
                raise err(f"[package.{_str(pkg.key)}]", f"package {pkg.key!r} depends on {dep!r}, which is not in the lock")
    return lock


# A toolchain's platform entries: ppm downloads and unpacks what a provisioned one names, and
# compares a build machine's tools with what a found one records. A pull request can edit them.
_TOOL_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")
_TOOL_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_~-]{0,99}")
_PLATFORM = re.compile(r"[a-z0-9]+(?:-[a-z0-9_]+)+")
_INSTALL_KINDS = ("zip", "tgz", "pip", "nuitka")
_REGISTRIES = ("pypi", "npm")
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_SRI = re.compile(r"sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2}")
_SEGMENT = re.compile(r"[A-Za-z0-9@+_~-][A-Za-z0-9@+_.~=-]*")
_DEB_LABEL = re.compile(r"deb:[a-z0-9][a-z0-9+.-]*=[A-Za-z0-9.+~:_-]+")


def _relative_ok(path: str) -> bool:
    """A relative path whose every segment is a plain name (no '..', no '.', nothing hidden)."""
    return bool(path) and len(path) <= 500 and all(_SEGMENT.fullmatch(seg) for seg in path.split("/"))


def _toolchain_platform_problem(plat: str, pin: dict[str, Any]) -> str:
    """Why a toolchain's platform entry cannot be used ('' when it can)."""
    if not _PLATFORM.fullmatch(plat):
        return f"{plat!r} is not a platform name (like linux-x86_64)"
    kind = pin.get("kind")
    arts = pin["artifacts"]
    if kind == "found":
        version = pin.get("version")
        if not isinstance(version, str) or not _TOOL_VERSION.fullmatch(version):
            return "a found toolchain's `version` must be a plain version string"
        if not arts:
            return "a found toolchain's record lists nothing that identifies it"
        for a in arts:
            if not (_DEB_LABEL.fullmatch(a["path"]) or _relative_ok(a["path"])):
                return f"{a['path']!r} is neither a relative path nor a deb:NAME=VERSION label"
            if not _SHA256.fullmatch(a["hash"]):
                return f"{a['path']}: hash {a['hash']!r} is not sha256:<64 hex digits>"
        return ""
    if kind not in _INSTALL_KINDS:
        return f"kind {kind!r} is not one of {', '.join((*_INSTALL_KINDS, 'found'))}"
    if pin.get("registry") not in _REGISTRIES:
        return f"registry {pin.get('registry')!r} is not one of {', '.join(_REGISTRIES)}"
    if not isinstance(pin.get("package"), str) or not pin["package"]:
        return "`package` must name the registry's package"
    binary = pin.get("binary", "")
    if not isinstance(binary, str) or (binary and not _relative_ok(binary)):
        return f"binary {binary!r} must be a relative path inside the install (no '..', no leading '/')"
    if not arts:
        return "it lists no artifact to download"
    for a in arts:
        if not _relative_ok(a["path"].removeprefix("@")):
            return f"artifact path {a['path']!r} must be a relative path under the registry's file root"
        if not (_SHA256.fullmatch(a["hash"]) or _SRI.fullmatch(a["hash"])):
            return f"artifact {a['path']}: hash {a['hash']!r} is not sha256:<hex> nor an npm sha512-<base64> integrity"
    return ""


def _npm_path_ok(path: object, name: str) -> bool:
    if not isinstance(path, str) or not path.startswith("node_modules/") or not path.endswith("/" + name):
        return False
    # node_modules/a/node_modules/@s/b: every segment after a node_modules is a valid npm name
    return all(not ecosystems.name_problem("npm", seg) for seg in path.removeprefix("node_modules/").split("/node_modules/"))


def read(path: Path) -> Lock:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise LockError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    return loads(text, path)


_DIGEST_LINE = re.compile(r'^manifest-digest = "([^"]*)"$', re.M)


def read_manifest_digest(path: Path) -> str | None:
    """The recorded manifest digest, read without parsing the whole lock (the no-op fast path)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(512)
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    m = _DIGEST_LINE.search(head)
    return m.group(1) if m else None
