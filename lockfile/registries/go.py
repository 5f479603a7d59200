"""The Go module proxy: `@v/list`, `@v/<v>.info`, `.mod`, `.zip`, `@latest`; module paths escape
capital letters as '!' + lower case. Also the h1 hash of go.sum (golang.org/x/mod/sumdb/dirhash)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.registries.http import NotFound

ECO = "go"


def escape(path: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def hash1(files: list[tuple[str, bytes]]) -> str:
    """dirhash.Hash1: sha256 over sorted lines "<hex sha256>  <name>\\n", base64, prefixed 'h1:'."""
    lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def hash_zip(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return hash1([(n, z.read(n)) for n in z.namelist() if not n.endswith("/")])


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
