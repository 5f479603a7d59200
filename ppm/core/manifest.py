"""ppm.toml: read, validate, and turn into plain data. Errors name file, line and column.

This layer knows no builder: a component's `builder` and its settings are kept as written, and
ppm.builders.check_manifest checks them against the builder registry (same kind of message,
through Manifest.error)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm import targets as targets_mod
from ppm.core.errors import ManifestError
from ppm.core.paths import MANIFEST, find_project_root

# Keys of [components.NAME] that ppm itself reads; every other key is a builder setting.
COMPONENT_KEYS = frozenset({"builder", "path", "needs", "optional", "dependencies"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass
class Component:
    name: str
    builder: str
    path: str  # relative to the project root, posix
    needs: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # when its toolchain is missing: skip with a note instead of failing
    # Third-party packages this component uses: ecosystem -> name -> spec (string or table),
    # from [components.NAME.dependencies]; resolved by lockfile/ into ppm.lock.
    dependencies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def env_name(self) -> str:
        """The suffix of its PPM_DEP_<NAME> variable."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())


@dataclass
class Manifest:
    path: Path
    name: str
    version: str
    entry: str | None
    targets: list[str]
    components: dict[str, Component]
    dependencies: dict[str, Any] = field(default_factory=dict)  # third-party packages, for the lock
    text: str = field(default="", repr=False)  # the file as read, to locate errors found later
    checked: bool = False  # set by ppm.builders.check_manifest once builders and settings passed
    remote: dict[str, Any] = field(default_factory=dict)  # [remote]: cache, executor, upload, fallback

    @property
    def root(self) -> Path:
        return self.path.parent

    def error(self, key_path: list[str], message: str) -> ManifestError:
        """An error about a table or key of this file: 'FILE:LINE:COL: message'."""
        return ManifestError(f"{self.path}{_line_col(self.text, key_path)}: {message}")


def toml_error(path: Path | str, e: tomllib.TOMLDecodeError) -> str:
    """'FILE:LINE:COL: invalid TOML: WHAT' from tomllib's message, which ends with
    '(at line L, column C)'."""
    msg = str(e)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    loc = f":{m.group(1)}:{m.group(2)}" if m else ""
    msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
    return f"{path}{loc}: invalid TOML: {msg}"


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds ppm.toml; an error if none does."""
    root = find_project_root(start)
    if root is None:
        raise ManifestError(f"no {MANIFEST} in {start.resolve()} or any parent directory",
                            hint="run `ppm init NAME` to create a project")
    return root


def _line_col(text: str, key_path: list[str]) -> str:
    """Best-effort location of a table or key for messages about valid TOML with bad content."""
    lines = text.splitlines()
    if len(key_path) >= 2 and key_path[0] == "components":
        header = re.compile(rf"^\s*\[\s*components\.{re.escape(key_path[1])}\s*\]")
        for i, line in enumerate(lines, 1):
            if header.match(line):
                if len(key_path) == 2:
                    return f":{i}:1"
                key = re.compile(rf"^\s*{re.escape(key_path[2])}\s*=")
                for j in range(i, len(lines)):
                    if lines[j].lstrip().startswith("["):
                        break
                    if key.match(lines[j]):
                        return f":{j + 1}:{len(lines[j]) - len(lines[j].lstrip()) + 1}"
                return f":{i}:1"
    if key_path:
        key = re.compile(rf"^\s*{re.escape(key_path[-1])}\s*=")
        for i, line in enumerate(lines, 1):
            if key.match(line):
                return f":{i}:1"
    return ""


def load(root: Path) -> Manifest:
    path = root / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: not found") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(toml_error(path, e)) from None

    def err(key_path: list[str], message: str) -> ManifestError:
        return ManifestError(f"{path}{_line_col(text, key_path)}: {message}")

    known_top = {"project", "components", "dependencies", "targets", "release", "registries", "remote"}  # [release]: ppm.release.config
    for k in data:
        if k not in known_top:
            return_err = err([k], f"unknown table or key {k!r}; expected one of {', '.join(sorted(known_top))}")
            raise return_err
    if "registries" in data:
        # cycle: ppm.core.config imports this module at its top
        from ppm.core.config import ConfigError, registries_table

        if not isinstance(data["registries"], dict):
            raise err(["registries"], "registries must be a table: [registries] pypi = \"https://…\"")
        try:
            registries_table(path, data["registries"])
        except ConfigError as e:
            raise ManifestError(str(e).replace(f"{path}:", f"{path}{_line_col(text, ['registries'])}:", 1),
                                hint=e.hint) from None
    proj = data.get("project")
    if not isinstance(proj, dict):
        raise err([], "missing [project] table (with at least `name`)")
    for k in proj:
        if k not in {"name", "version", "entry", "targets", "description"}:
            raise err([k], f"unknown key project.{k}")
    name = proj.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise err(["name"], "project.name must be a name of letters, digits, '-' or '_'")
    version = proj.get("version", "0.0.0")
    if not isinstance(version, str):
        raise err(["version"], "project.version must be a string")
    targets = proj.get("targets", ["host"])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets) or not targets:
        raise err(["targets"], "project.targets must be a non-empty list of target names")
    for t in targets:
        try:
            targets_mod.get(t)
        except LookupError as e:
            raise err(["targets"], str(e)) from None

    comps_raw = data.get("components", {})
    if not isinstance(comps_raw, dict):
        raise err(["components"], "components must be a table of [components.NAME] tables")
    components: dict[str, Component] = {}
    for cname, c in comps_raw.items():
        where = ["components", cname]
        if not _NAME.match(cname):
            raise err(where, f"component name {cname!r} must be letters, digits, '-' or '_'")
        if not isinstance(c, dict):
            raise err(where, f"components.{cname} must be a table")
        builder = c.get("builder")  # checked against the registry by ppm.builders.check_manifest
        cpath = c.get("path", cname)
        if not isinstance(cpath, str) or Path(cpath).is_absolute() or ".." in Path(cpath).parts:
            raise err(where + ["path"], f"components.{cname}.path must be a relative path inside the project")
        needs = c.get("needs", [])
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise err(where + ["needs"], f"components.{cname}.needs must be a list of component names")
        optional = c.get("optional", False)
        if not isinstance(optional, bool):
            raise err(where + ["optional"], f"components.{cname}.optional must be true or false")
        settings = {k: v for k, v in c.items() if k not in COMPONENT_KEYS}
        cdeps = c.get("dependencies", {})
        _check_dependencies(cdeps, lambda m, k=where + ["dependencies"], name=cname: err(k, f"components.{name}.dependencies: {m}"))
        components[cname] = Component(cname, builder if isinstance(builder, str) else "", Path(cpath).as_posix(),
                                      list(needs), settings, optional, cdeps)

    for c in components.values():
        for n in c.needs:
            if n not in components:
                raise err(["components", c.name, "needs"], f"components.{c.name} needs {n!r}, which is not a component")

    entry = proj.get("entry")
    if entry is not None and entry not in components:
        raise err(["entry"], f"project.entry {entry!r} is not a component")
    deps = data.get("dependencies", {})
    _check_dependencies(deps, lambda m: err(["dependencies"], f"dependencies: {m}"))
    remote = _check_remote(data.get("remote", {}), lambda k, m: err(["remote", *k], m))
    return Manifest(path, name, version, entry, list(targets), components, deps, text, remote=remote)


_REMOTE_SCHEMES = {"cache": ("grpc", "grpcs", "http", "https"), "executor": ("grpc", "grpcs")}


def _check_remote(table: Any, err: Any) -> dict[str, Any]:
    """[remote]: where the shared cache and the executor are. Never credentials: ppm.toml is
    committed, so headers and tokens come from the environment (PPM_REMOTE_HEADERS, PPM_REMOTE_TOKEN)."""
    if not isinstance(table, dict):
        raise err([], "[remote] must be a table")
    for k, v in table.items():
        if k in _REMOTE_SCHEMES:
            schemes = _REMOTE_SCHEMES[k]
            if not isinstance(v, str) or not re.match(rf"^({'|'.join(schemes)})://[^/\s]+", v):
                raise err([k], f"remote.{k} must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        elif k == "upload":
            if not isinstance(v, bool):
                raise err([k], "remote.upload must be true or false")
        elif k == "fallback":
            if v not in ("local", "none"):
                raise err([k], "remote.fallback must be \"local\" or \"none\"")
        elif k in ("headers", "token"):
            raise err([k], f"remote.{k}: credentials do not belong in ppm.toml (it is committed); "
                           "set PPM_REMOTE_HEADERS or PPM_REMOTE_TOKEN in the environment instead")
        else:
            raise err([k], f"unknown key remote.{k}; expected cache, executor, upload or fallback")
    return dict(table)


ECOSYSTEMS = ("pypi", "npm", "cargo", "go", "maven")


def _check_dependencies(deps: Any, err: Any) -> None:
    """[dependencies] (project-wide) and [components.X.dependencies]: ecosystem -> name -> spec,
    where spec is a version requirement string or a table (version, features, optional, ...)."""
    if not isinstance(deps, dict):
        raise err("must be a table of ecosystems")
    for eco, pkgs in deps.items():
        if eco not in ECOSYSTEMS:
            raise err(f"unknown ecosystem {eco!r}; known: {', '.join(ECOSYSTEMS)}")
        if not isinstance(pkgs, dict):
            raise err(f"{eco} must be a table of package = spec")
        for pname, spec in pkgs.items():
            if not isinstance(spec, (str, dict)):
                raise err(f"{eco}.{pname}: spec must be a version string or a table")


