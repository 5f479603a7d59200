"""PyPI: the PEP 691 JSON simple API for files, PEP 658 `.metadata` for core metadata (falling
back to reading METADATA out of the wheel when a file has none)."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from functools import cache
from pathlib import Path
from urllib.parse import urljoin

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ppm.lockfile.errors import RegistryError
from ppm.lockfile.registries.http import HttpClient, NotFound, verify

ACCEPT = "application/vnd.pypi.simple.v1+json"
ECO = "pypi"


@dataclass(frozen=True)
class File:
    filename: str
    url: str
    sha256: str
    requires_python: str
    yanked: bool
    has_metadata: bool
    metadata_sha256: str | None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def tags(self) -> frozenset:
        """packaging Tag set (empty for sdists); parsed on first use, as most files never are."""
        return _wheel_tags(self.filename) if self.is_wheel else frozenset()


@cache
def _wheel_tags(filename: str) -> frozenset:
    try:
        return frozenset(parse_wheel_filename(filename)[3])
    except (InvalidWheelFilename, ValueError):
        return frozenset()


@cache
def _version(s: str) -> Version | None:
    try:
        return Version(s)
    except InvalidVersion:
        return None


@dataclass
class Metadata:
    requires_dist: list[str] = field(default_factory=list)
    requires_python: str = ""
    provides_extra: list[str] = field(default_factory=list)


class PypiClient:
    def __init__(self, http: HttpClient, index_url: str) -> None:
        self.http = http
        self.index = index_url
        self._files: dict[str, dict[Version, list[File]]] = {}  # per run: pages are parsed once

    def page_url(self, name: str) -> str:
        return urljoin(self.index, f"{canonicalize_name(name)}/")

    def prefetch(self, names: list[str]) -> None:
        self.http.fetch_many((self.page_url(n), ECO, n, ACCEPT) for n in names)

    def files(self, name: str) -> dict[Version, list[File]]:
        """Every file of a project, grouped by version (files whose names do not parse are skipped)."""
        cname = canonicalize_name(name)
        if cname not in self._files:
            self._files[cname] = self._read_files(name)
        return self._files[cname]

    def _read_files(self, name: str) -> dict[Version, list[File]]:
        url = self.page_url(name)
        try:
            resp = self.http.get(url, ecosystem=ECO, package=name, accept=ACCEPT)
        except NotFound:
            raise RegistryError(ECO, name, "no such project", url=url) from None
        ctype = resp.headers.get("content-type", "")
        try:
            doc = resp.json()
            assert isinstance(doc, dict) and isinstance(doc.get("files"), list)
        except Exception:
            raise RegistryError(ECO, name, f"not a PEP 691 JSON page (content-type {ctype or 'unknown'})", url=url) from None
        out: dict[Version, list[File]] = {}
        cname = canonicalize_name(name)
        prefix = cname.replace("-", "_")
        for f in doc["files"]:
            fn = f.get("filename", "")
            # Cheap first: a project's page may list thousands of files, and only the versions the
            # resolver looks at need their tags parsed (File.tags does that lazily).
            if fn.endswith(".whl"):
                parts = fn[:-4].split("-")
                if len(parts) not in (5, 6) or canonicalize_name(parts[0]).replace("-", "_") != prefix:
                    continue
                version = _version(parts[1])
            elif fn.endswith((".tar.gz", ".zip")):
                pname, _, v = fn[: -7 if fn.endswith(".tar.gz") else -4].rpartition("-")
                if canonicalize_name(pname) != cname:
                    continue
                version = _version(v)
            else:
                continue
            if version is None:
                continue
            meta = f.get("core-metadata", f.get("dist-info-metadata", False))
            sha = (f.get("hashes") or {}).get("sha256")
            if not sha:
                continue  # unhashed files cannot be locked
            furl = f["url"]
            if not furl.startswith(("https://", "http://")):
                furl = urljoin(url, furl)
            out.setdefault(version, []).append(File(
                fn, furl, sha, f.get("requires-python") or "", bool(f.get("yanked", False)),
                bool(meta), meta.get("sha256") if isinstance(meta, dict) else None))
        return out

    def _meta_path(self, sha256: str) -> Path:
        return self.http.cache.parent / "pypi-metadata" / sha256[:2] / sha256

    def metadata(self, name: str, file: File) -> Metadata:
        """Core metadata of a file. Kept on disk by the file's sha256, which names its content for
        good: a warm re-resolve reads no wheel and revalidates no .metadata."""
        cached = self._meta_path(file.sha256)
        try:
            text = cached.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = self._fetch_metadata(name, file)
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, cached)
            except OSError:
                pass
        msg = HeaderParser().parsestr(text)
        return Metadata(msg.get_all("Requires-Dist") or [], msg.get("Requires-Python") or "",
                        [canonicalize_name(e) for e in msg.get_all("Provides-Extra") or []])

    def _fetch_metadata(self, name: str, file: File) -> str:
        if file.has_metadata:
            murl = file.url + ".metadata"
            try:
                body = self.http.get(murl, ecosystem=ECO, package=name).content
            except NotFound:
                raise RegistryError(ECO, name, "the index advertises core metadata that is not there", url=murl) from None
            if file.metadata_sha256:
                verify(body, f"sha256:{file.metadata_sha256}", url=murl)
            text = body.decode("utf-8", "replace")
        elif file.is_wheel:
            body = self.http.download(file.url, expected=f"sha256:{file.sha256}", ecosystem=ECO, package=name)
            try:
                with zipfile.ZipFile(io.BytesIO(body)) as z:
                    meta = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
                    text = z.read(meta).decode("utf-8", "replace")
            except (zipfile.BadZipFile, StopIteration):
                raise RegistryError(ECO, name, f"{file.filename} has no readable METADATA", url=file.url) from None
        else:
            raise RegistryError(ECO, name, f"{file.filename}: only an sdist, whose metadata needs a build", url=file.url)
        return text
