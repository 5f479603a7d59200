"""One client per ecosystem, all sharing one HttpClient. Registry URLs come from the environment
(`PPM_REGISTRY_PYPI`, `PPM_REGISTRY_NPM`, `PPM_REGISTRY_CARGO`, `PPM_REGISTRY_GO`,
`PPM_REGISTRY_MAVEN`) or an explicit mapping, else the public defaults."""

from __future__ import annotations

import os
from typing import Mapping

DEFAULTS = {
    "pypi": "https://pypi.org/simple/",
    "npm": "https://registry.npmjs.org/",
    "cargo": "sparse+https://index.crates.io/",
    "go": "https://proxy.golang.org/",
    "maven": "https://repo1.maven.org/maven2/",
}


def registry_urls(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each ecosystem's registry base URL, always ending in '/'."""
    urls = {}
    for eco, default in DEFAULTS.items():
        url = (overrides or {}).get(eco) or os.environ.get(f"PPM_REGISTRY_{eco.upper()}") or default
        urls[eco] = url if url.endswith("/") else url + "/"
    return urls
