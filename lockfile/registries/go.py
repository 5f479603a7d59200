"""The Go module proxy: `@v/list`, `@v/<v>.info`, `.mod`, `.zip`, `@latest`; module paths escape
capital letters as '!' + lower case. Also the h1 hash of go.sum (golang.org/x/mod/sumdb/dirhash)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.extract import zip_member_sha256s
from ppm.lockfile.registries.http import HttpClient, NotFound

ECO = "go"


def escape(path: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def hash1(files: list[tuple[str, bytes]]) -> str:
    """dirhash.Hash1: sha256 over sorted lines "<hex sha256>  <name>\\n", base64, prefixed 'h1:'."""
    return hash1_of_sums([(name, hashlib.sha256(data).hexdigest()) for name, data in files])


def hash1_of_sums(sums: list[tuple[str, str]]) -> str:
    lines = "".join(f"{hexsum}  {name}\n" for name, hexsum in sorted(sums))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def hash_zip(data: bytes | Path, what: str = "Go module zip") -> str:
    """h1: of a module zip, each member streamed and the whole bounded (lockfile/extract.py): a
    small zip that inflates to gigabytes costs time within the limits, never memory."""
    return hash1_of_sums(zip_member_sha256s(data, what=what))


def hash_mod(text: bytes) -> str:
    return hash1([("go.mod", text)])


class GoClient:
    def __init__(self, http: HttpClient, proxy_url: str) -> None:
        self.http = http
        self.url = proxy_url

    def _get(self, module: str, suffix: str, what: str) -> bytes:
        url = f"{self.url}{escape(module)}/{suffix}"
        try:
            return self.http.get(url, ecosystem=ECO, package=module).content
        except NotFound:
            raise RegistryError(ECO, module, f"{what} not found", url=url) from None

    def mod_url(self, module: str, version: str) -> str:
        return f"{self.url}{escape(module)}/@v/{version}.mod"

    def zip_url(self, module: str, version: str) -> str:
        return f"{self.url}{escape(module)}/@v/{version}.zip"

    def versions(self, module: str) -> list[str]:
        return [v.strip() for v in self._get(module, "@v/list", "module").decode().splitlines() if v.strip()]

    def mod(self, module: str, version: str) -> bytes:
        return self._get(module, f"@v/{version}.mod", f"go.mod of {version}")

    def zip(self, module: str, version: str) -> bytes:
        return self._get(module, f"@v/{version}.zip", f"zip of {version}")

    def prefetch_mods(self, pairs: list[tuple[str, str]]) -> None:
        self.http.fetch_many((self.mod_url(m, v), ECO, m, "*/*") for m, v in pairs)

    def prefetch_zips(self, pairs: list[tuple[str, str]]) -> None:
        self.http.fetch_many((self.zip_url(m, v), ECO, m, "*/*") for m, v in pairs)
