"""The user's config file (`~/.config/ppm/config.toml`, or $PPM_CONFIG): settings that belong
to the person, not the project.

    [cache]
    max-size = "5GB"          # prune the store (least recently used first) after each build

    [registries]
    pypi = "https://pypi.internal.example/simple"
    npm = "https://npm.internal.example"

Credentials never live here: they come from the environment or a netrc file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from ppm.core.errors import ManifestError
from ppm.core.manifest import ECOSYSTEMS, toml_error
from ppm.core.paths import MANIFEST

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*$", re.I)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ConfigError(ManifestError):
    """The user config file is malformed."""


@dataclass
class UserConfig:
    path: Path
    max_size: int | None = None  # bytes
    registries: dict[str, str] = field(default_factory=dict)


def config_path() -> Path:
    env = os.environ.get("PPM_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("ppm", appauthor=False)) / "config.toml"


def load() -> UserConfig:
    """The user config; an absent file is an empty config, a malformed one a ConfigError."""
    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserConfig(path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(toml_error(path, e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    cfg = UserConfig(path)
    unknown = sorted(set(data) - {"cache", "registries"})
    if unknown:
        raise ConfigError(f"{path}: unknown table {unknown[0]!r}", hint="the tables are [cache] and [registries]")
    cache = _table(path, data, "cache")
    if "max-size" in cache:
        cfg.max_size = parse_size(cache["max-size"], where=f"{path}: cache.max-size")
    cfg.registries = registries_table(path, _table(path, data, "registries"))
    return cfg


def registries_table(path: Path | str, table: dict[str, Any]) -> dict[str, str]:
    """`[registries]` of ppm.toml or the user config: ecosystem -> base URL (http(s), no
    credentials in it: those come from the environment or netrc)."""
    out: dict[str, str] = {}
    for eco, url in table.items():
        if eco not in ECOSYSTEMS:
            raise ConfigError(f"{path}: registries.{eco}: unknown ecosystem",
                              hint=f"one of {', '.join(sorted(ECOSYSTEMS))}")
        if not isinstance(url, str):
            raise ConfigError(f"{path}: registries.{eco}: expected a URL string")
        u = urlsplit(url)
        if u.scheme not in ("http", "https", "sparse+https", "sparse+http") or not u.hostname:
            raise ConfigError(f"{path}: registries.{eco}: {url!r} is not an http(s) URL")
        if u.username or u.password:
            raise ConfigError(f"{path}: registries.{eco}: the URL holds credentials",
                              hint=f"remove them; put them in ~/.netrc, or in the PPM_REGISTRY_{eco.upper()} "
                                   "environment variable's URL")
        out[eco] = url.rstrip("/")
    return out


def project_registries(root: Path) -> dict[str, str]:
    """`[registries]` of the project's ppm.toml ({} when it has none or cannot be read: the
    manifest's own loader reports a malformed file)."""
    path = root / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    table = data.get("registries", {})
    return registries_table(path, table) if isinstance(table, dict) else {}


def _table(path: Path, data: dict[str, Any], name: str) -> dict[str, Any]:
    t = data.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{path}: {name} must be a table ([{name}])")
    return t


def parse_size(value: object, *, where: str = "size") -> int:
    """'5GB', '500 MB', '1.5G', '2GiB' or a number of bytes -> bytes (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f"{where}: {value!r} is not a size", hint="write it like 5GB, 500MB or 1.5G")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def parse_age(value: str, *, where: str = "age") -> float:
    """'30d', '12h', '90m', '2w', '45s' -> seconds."""
    m = _AGE.match(value)
    if not m:
        raise ConfigError(f"{where}: {value!r} is not an age", hint="write it like 30d, 12h, 90m or 2w")
    return float(m.group(1)) * _AGE_UNITS[m.group(2).lower()]
