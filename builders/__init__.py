"""Builders, one module per toolchain, registered here in one place."""

from __future__ import annotations

import importlib
from typing import Any

from ppm.builders.base import Builder
from ppm.core.manifest import Manifest

_MODULES = {
    "cc": "ppm.builders.cc",
    "cargo": "ppm.builders.cargo",
    "zig": "ppm.builders.zig",
    "esbuild": "ppm.builders.esbuild",
    "graalvm": "ppm.builders.graalvm",
    "go": "ppm.builders.go",
    "nuitka": "ppm.builders.nuitka",
    "pyinstaller": "ppm.builders.pyinstaller",
}


class _Registry(dict):
    """Maps builder name -> Builder class, importing a module only when it is asked for."""

    def __missing__(self, key: str) -> type[Builder]:
        if key not in _MODULES:
            raise KeyError(key)
        mod = importlib.import_module(_MODULES[key])
        cls = mod.BUILDER
        self[key] = cls
        return cls

    def __contains__(self, key: object) -> bool:
        return key in _MODULES

    def __iter__(self):
        return iter(sorted(_MODULES))

    def __len__(self) -> int:
        return len(_MODULES)


REGISTRY: dict[str, type[Builder]] = _Registry()


def check_manifest(manifest: Manifest) -> Manifest:
    """Check each component's builder and settings against the registry, and fill in the
    settings' defaults. Errors name ppm.toml's line and column. Idempotent."""
    if manifest.checked:
        return manifest
    known = ", ".join(sorted(REGISTRY))
    for c in manifest.components.values():
        where = ["components", c.name]
        if not c.builder:
            raise manifest.error(where, f"components.{c.name}: missing `builder` (one of {known})")
        if c.builder not in REGISTRY:
            raise manifest.error(where + ["builder"], f"components.{c.name}: unknown builder {c.builder!r}; known: {known}")
        bcls = REGISTRY[c.builder]
        settings: dict[str, Any] = {}
        for k, v in c.settings.items():
            spec = bcls.settings.get(k)
            if spec is None:
                names = ", ".join(sorted(bcls.settings)) or "none"
                raise manifest.error(where + [k], f"components.{c.name}: unknown setting {k!r} for builder "
                                                  f"{c.builder!r} (settings: {names})")
            if not isinstance(v, spec.type):
                raise manifest.error(where + [k], f"components.{c.name}.{k}: expected {_type_name(spec.type)}, "
                                                  f"got {type(v).__name__}")
            settings[k] = v
        for k, spec in bcls.settings.items():
            if k not in settings:
                if spec.required:
                    raise manifest.error(where, f"components.{c.name}: builder {c.builder!r} needs setting {k!r} ({spec.help})")
                if spec.default is not None:
                    settings[k] = spec.default
        c.settings = settings
    manifest.checked = True
    return manifest


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__
