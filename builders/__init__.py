"""Builders, one module per toolchain, registered here in one place."""

from __future__ import annotations

import importlib

from ppm.builders.base import Builder

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
