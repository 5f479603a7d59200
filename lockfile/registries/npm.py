"""npm: the abbreviated packument (`Accept: application/vnd.npm.install-v1+json`)."""

from __future__ import annotations

from typing import Any

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.registries.http import HttpClient, NotFound

ACCEPT = "application/vnd.npm.install-v1+json"
ECO = "npm"


class NpmClient:
    def __init__(self, http: HttpClient, registry_url: str) -> None:
        self.http = http
        self.url = registry_url

    def packument_url(self, name: str) -> str:
        return self.url + name.replace("/", "%2f")  # scoped names: @scope%2fname

    def prefetch(self, names: list[str]) -> None:
        self.http.fetch_many((self.packument_url(n), ECO, n, ACCEPT) for n in names)

    def packument(self, name: str) -> dict[str, Any]:
        url = self.packument_url(name)
        try:
            doc = self.http.get(url, ecosystem=ECO, package=name, accept=ACCEPT).json()
        except NotFound:
            raise RegistryError(ECO, name, "no such package", url=url) from None
        except ValueError:
            raise RegistryError(ECO, name, "the packument is not JSON", url=url) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("versions"), dict):
            raise RegistryError(ECO, name, "the packument has no `versions`", url=url)
        return doc
