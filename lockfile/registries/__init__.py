"""One client per ecosystem, all sharing one HttpClient. Registry URLs come from an explicit
mapping, the environment (`PPM_REGISTRY_PYPI`, `PPM_REGISTRY_NPM`, `PPM_REGISTRY_CARGO`,
`PPM_REGISTRY_GO`, `PPM_REGISTRY_MAVEN`), the project's `[registries]` in ppm.toml, the user
config's `[registries]`, else the public defaults, first found wins. Credentials come only from
the environment (a URL in PPM_REGISTRY_<ECO>) or a netrc file (see http.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULTS = {
    "pypi": "https://pypi.org/simple/",
    "npm": "https://registry.npmjs.org/",
    "cargo": "sparse+https://index.crates.io/",
    "go": "https://proxy.golang.org/",
    "maven": "https://repo1.maven.org/maven2/",
}


def registry_urls(overrides: Mapping[str, str] | None = None, *, root: Path | None = None) -> dict[str, str]:
    """Each ecosystem's registry base URL, always ending in '/'. `root`: the project whose
    ppm.toml may name registries."""
    from ppm.core import config

    configured = {**config.load().registries, **(config.project_registries(root) if root is not None else {})}
    urls = {}
    for eco, default in DEFAULTS.items():
        url = ((overrides or {}).get(eco) or os.environ.get(f"PPM_REGISTRY_{eco.upper()}") or configured.get(eco)
               or default)
        urls[eco] = url if url.endswith("/") else url + "/"
    return urls
