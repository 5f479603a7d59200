"""crates.io: the sparse index (`config.json`, then one JSON line per version at the crate's path)."""

from __future__ import annotations

import json
from typing import Any

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.registries.http import HttpClient, NotFound

ECO = "cargo"
CRATES_IO_SOURCE = "registry+https://github.com/rust-lang/crates.io-index"


def index_path(name: str) -> str:
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


class CargoClient:
    def __init__(self, http: HttpClient, index_url: str) -> None:
        self.http = http
        self.url = index_url  # "sparse+https://index.crates.io/"
        self.base = index_url.removeprefix("sparse+")
        self._config: dict[str, Any] | None = None
        self._versions: dict[str, list[dict[str, Any]]] = {}

    @property
    def source(self) -> str:
        """How Cargo.lock names this registry."""
        if self.base.rstrip("/") == "https://index.crates.io":
            return CRATES_IO_SOURCE
        return f"sparse+{self.base}"

    def config(self) -> dict[str, Any]:
        if self._config is None:
            url = self.base + "config.json"
            try:
                self._config = self.http.get(url, ecosystem=ECO, package="config.json").json()  # type: ignore[assignment]
            except (NotFound, ValueError):
                raise RegistryError(ECO, "config.json", "the sparse index has no usable config.json", url=url) from None
        return self._config  # type: ignore[return-value]

    def prefetch(self, names: list[str]) -> None:
        self.http.fetch_many((self.base + index_path(n), ECO, n, "*/*") for n in names)

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every index entry of a crate (parsed once per run: the resolver asks often)."""
        got = self._versions.get(name)
        if got is None:
            got = self._versions[name] = self._read_versions(name)
        return got

    def _read_versions(self, name: str) -> list[dict[str, Any]]:
        url = self.base + index_path(name)
        try:
            text = self.http.get(url, ecosystem=ECO, package=name).text
        except NotFound:
            raise RegistryError(ECO, name, "no such crate", url=url) from None
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise RegistryError(ECO, name, "an index line is not JSON", url=url) from None
            feats = dict(entry.get("features") or {})
            feats.update(entry.get("features2") or {})
            entry["features"] = feats
            out.append(entry)
        return out

    def download_url(self, name: str, version: str, cksum: str) -> str:
        dl = self.config()["dl"]
        if not any(m in dl for m in ("{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}")):
            return f"{dl.rstrip('/')}/{name}/{version}/download"
        prefix = index_path(name).rsplit("/", 1)[0]
        return (dl.replace("{crate}", name).replace("{version}", version).replace("{prefix}", prefix)
                .replace("{lowerprefix}", prefix.lower()).replace("{sha256-checksum}", cksum))
