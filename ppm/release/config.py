"""The `[release]` table of ppm.toml: where the release repository lives and where it is published.

    [release]
    repository = "~/releases/demo"      # the local TUF repository; default: the user data dir
    url = "https://example.github.io/demo/"   # where that directory is served from (optional)
    compress-min-saving = 0.05          # publish a .zst copy only when it saves at least this much

The repository is state that must outlive `dist/` (every installed copy trusts its root chain and
its version counters), so it never defaults to a place a clean build deletes: it defaults to
`<user data dir>/ppm/releases/<project>/repository`, beside the keys, and a path inside `dist/` is
refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from ppm.core.errors import ManifestError, PpmError

DEFAULT_COMPRESS_MIN_SAVING = 0.05
_KEYS = {"repository", "url", "compress-min-saving"}


class ReleaseError(PpmError):
    """A release cannot be published as asked."""


def parse_version(v: str) -> Any:
    """`v` as an orderable version (publish, channels and restore all order by it)."""
    # packaging: heavy, only when versions are compared
    from packaging.version import InvalidVersion, Version

    try:
        return Version(v)
    except InvalidVersion:
        raise ReleaseError(f"{v!r} is not a version ppm can order", hint="use a version like 1.2.3 (PEP 440 / semver core)") from None


@dataclass(frozen=True)
class ReleaseConfig:
    repository: Path
    url: str | None = None
    compress_min_saving: float = DEFAULT_COMPRESS_MIN_SAVING


def default_repository(project: str) -> Path:
    return Path(platformdirs.user_data_dir("ppm", appauthor=False)) / "releases" / project / "repository"


def _line_of(text: str, key: str | None) -> str:
    """':LINE' of the [release] header, or of `key` inside it, for messages about valid TOML."""
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        if re.match(r"^\s*\[\s*release\s*\]", line):
            if key is None:
                return f":{i}"
            for j in range(i, len(lines)):
                if lines[j].lstrip().startswith("["):
                    break
                if re.match(rf"^\s*{re.escape(key)}\s*=", lines[j]):
                    return f":{j + 1}"
            return f":{i}"
    return ""


def load(root: Path, project: str) -> ReleaseConfig:
    """Read `[release]` from root/ppm.toml (already validated as TOML by ppm.core.manifest)."""
    path = root / "ppm.toml"
    text = path.read_text(encoding="utf-8")
    table: Any = tomllib.loads(text).get("release", {})

    def err(key: str | None, msg: str) -> ManifestError:
        return ManifestError(f"{path}{_line_of(text, key)}: {msg}")

    if not isinstance(table, dict):
        raise err(None, "release must be a table: [release]")
    for k in table:
        if k not in _KEYS:
            raise err(k, f"unknown key release.{k}; expected one of {', '.join(sorted(_KEYS))}")
    repo_raw = table.get("repository")
    if repo_raw is None:
        repo = default_repository(project)
    elif isinstance(repo_raw, str) and repo_raw.strip():
        repo = Path(os.path.expanduser(repo_raw))
        if not repo.is_absolute():
            repo = root / repo
    else:
        raise err("repository", "release.repository must be a directory path (a string)")
    repo = Path(os.path.normpath(repo.absolute()))
    dist = Path(os.path.normpath((root / "dist").absolute()))
    if repo == dist or dist in repo.parents:
        raise err("repository", f"release.repository {repo} is inside dist/, which builds and `rm -rf dist` delete; "
                                "losing it strands every installed copy")
    url = table.get("url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://", url)):
        raise err("url", "release.url must be the http(s):// URL the repository directory is served from")
    saving = table.get("compress-min-saving", DEFAULT_COMPRESS_MIN_SAVING)
    if isinstance(saving, bool) or not isinstance(saving, int | float) or not 0 <= saving < 1:
        raise err("compress-min-saving", "release.compress-min-saving must be a fraction between 0 and 1, like 0.05")
    return ReleaseConfig(repo, url.rstrip("/") + "/" if url else None, float(saving))
