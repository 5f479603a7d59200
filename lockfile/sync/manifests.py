"""The native manifests' dependency lists, from ppm.toml: Cargo.toml [dependencies] and
package.json "dependencies" (only the names ppm manages). Each function returns the new text and
the managed names; nothing is written here, so a sync that fails later changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomlkit

from ppm.lockfile import conditions, export
from ppm.lockfile.errors import LockError


def _cargo_spec(r: Any) -> Any:
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
    """Per-target roots in cargo's own words: a root with a `cfg(...)` condition or a
    `targets = [...]` restriction goes under [target.'cfg(...)'.dependencies], so cargo compiles it
    only for those targets (Cargo.lock still holds it: cargo resolves every platform)."""
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


def cargo_toml(root: Path, comp_dir: Path, world: export.World, managed_before: list[str]) -> tuple[str, list[str]]:
    path = comp_dir / "Cargo.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockError(f"{world.label}: {path.relative_to(root)} does not exist; "
                        "the cargo builder needs a crate there") from None
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise LockError(f"{path.relative_to(root)}: not valid TOML ({e})") from None
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
                                hint=f"declare it in ppm.toml: `ppm add cargo:{n} --to {world.component}`, "
                                     "and delete it from Cargo.toml")
    return tomlkit.dumps(doc), names


def package_json(root: Path, comp_dir: Path, world: export.World, managed_before: list[str]) -> tuple[str, list[str]]:
    path = comp_dir / "package.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = {"name": world.component or "project", "version": "0.0.0", "private": True}
    except ValueError as e:
        raise LockError(f"{path.relative_to(root)}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise LockError(f"{path.relative_to(root)}: not a JSON object")
    want = export.npm_root_dependencies(world)
    deps = {k: v for k, v in (doc.get("dependencies") or {}).items() if k not in managed_before}
    deps.update(want)
    extra = sorted(set(deps) - set(want))
    for k in ("devDependencies", "optionalDependencies", "peerDependencies"):
        extra += sorted(doc.get(k) or {})
    if extra:
        raise LockError(f"{path.relative_to(root)} names {', '.join(map(repr, extra))}, which ppm.toml does not declare; "
                        f"ppm writes package-lock.json from ppm.lock",
                        hint=f"declare them in ppm.toml (`ppm add npm:NAME --to {world.component}`) "
                             "and delete them from package.json")
    doc["dependencies"] = dict(sorted(deps.items()))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n", sorted(want)
