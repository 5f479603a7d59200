"""The ecosystems, one row each: name grammar, registry client, resolver, exporter, installer.
Adding an ecosystem is adding its modules and one row here. Modules are named, not imported,
so that reading a lock does not load five resolvers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ppm.lockfile import names
from ppm.lockfile.errors import LockError


@dataclass(frozen=True)
class Ecosystem:
    name: str
    grammar: Callable[[str], str | None]  # why a package name is refused, or None
    client: str  # "module:Class" speaking the registry's protocol
    resolver: str  # module with resolve(): the ecosystem's resolution rules
    exporter: str  # function in ppm.lockfile.export writing its native lockfiles
    installer: str  # module with stage(): lays out what its locked tools read offline


_L = "ppm.lockfile"
TABLE: dict[str, Ecosystem] = {e.name: e for e in (
    Ecosystem("pypi", names.pypi, f"{_L}.registries.pypi:PypiClient", f"{_L}.resolvers.pypi", "export_pypi",
              f"{_L}.sync.install_pypi"),
    Ecosystem("npm", names.npm, f"{_L}.registries.npm:NpmClient", f"{_L}.resolvers.npm", "export_npm", f"{_L}.sync.install_npm"),
    Ecosystem("cargo", names.cargo, f"{_L}.registries.cargo:CargoClient", f"{_L}.resolvers.cargo", "export_cargo",
              f"{_L}.sync.install_cargo"),
    Ecosystem("go", names.go, f"{_L}.registries.go:GoClient", f"{_L}.resolvers.go", "export_go", f"{_L}.sync.install_go"),
    Ecosystem("maven", names.maven, f"{_L}.registries.maven:MavenClient", f"{_L}.resolvers.maven", "export_maven",
              f"{_L}.sync.install_maven"),
)}
ORDER = tuple(TABLE)


def get(ecosystem: str) -> Ecosystem:
    try:
        return TABLE[ecosystem]
    except KeyError:
        raise LockError(f"unknown ecosystem {ecosystem!r}; ppm knows {', '.join(ORDER)}") from None


def client_class(ecosystem: str) -> Any:
    mod, _, cls = get(ecosystem).client.partition(":")
    return getattr(importlib.import_module(mod), cls)


def resolver(ecosystem: str) -> ModuleType:
    return importlib.import_module(get(ecosystem).resolver)


def installer(ecosystem: str) -> ModuleType:
    return importlib.import_module(get(ecosystem).installer)


def name_problem(ecosystem: str, name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "empty name"
    row = TABLE.get(ecosystem)
    return row.grammar(name) if row else f"unknown ecosystem {ecosystem!r}"


def check(ecosystem: str, name: str, version: str | None = None, *, where: str) -> None:
    """Raise LockError naming `where` (ppm.toml, a registry, ppm.lock:LINE) when the name or the
    version is not what its ecosystem allows."""
    hint = "a registry or an edited file names something no registry could publish: refused"
    why = name_problem(ecosystem, name)
    if why:
        raise LockError(f"{where}: {ecosystem} package name {name!r} is not valid: {why}", hint=hint)
    if version is not None:
        why = names.version_problem(version)
        if why:
            raise LockError(f"{where}: {ecosystem} package {name} has an invalid version {version!r}: {why}", hint=hint)
