"""The one HTTP client every registry uses: an httpx client with an on-disk cache revalidated by
ETag / Last-Modified, retries with backoff on timeouts, connection errors and 5xx, and errors that
name the registry and the package. Responses are remembered for the run, so one resolution asks
for each URL once; `fetch_many` fetches in parallel threads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from ppm.core import dns, hashing, paths
from ppm.lockfile.errors import HashMismatch, RegistryError

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3


def cache_dir() -> Path:
    """Registry responses (ETags, metadata): under ppm's one cache root (ppm.core.paths)."""
    return paths.cache_dir() / "http"


@dataclass
class Response:
    url: str
    status: int
    content: bytes
    headers: dict[str, str]

    def json(self) -> object:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


class NotFound(Exception):
    """The registry answered 404/410 for a URL (callers turn this into a RegistryError with context)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class HttpClient:
    """Shared by every registry client of one resolution."""

    def __init__(self, *, offline: bool = False, cache: Path | None = None, timeout: float | None = None,
                 retries: int | None = None, backoff: float = 0.25, max_workers: int = 16) -> None:
        self.offline = offline
        self.cache = cache if cache is not None else cache_dir()
        self.timeout = timeout if timeout is not None else float(os.environ.get("PPM_HTTP_TIMEOUT", DEFAULT_TIMEOUT))
        self.retries = retries if retries is not None else int(os.environ.get("PPM_HTTP_RETRIES", DEFAULT_RETRIES))
        self.backoff = backoff
        self.max_workers = max_workers
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str], Response] = {}
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self._failed: dict[tuple[str, str], Exception] = {}
        self.requests = 0  # network requests made (for tests and benchmarks)

    # -- plumbing ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                dns.install()  # a burst of new connections costs one lookup per host
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout), follow_redirects=True, http2=False,
                    headers={"User-Agent": "ppm (+https://github.com/ppm)"},
                    limits=httpx.Limits(max_connections=self.max_workers, max_keepalive_connections=self.max_workers),
                    auth=_netrc_auth(),
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _paths(self, url: str, accept: str) -> tuple[Path, Path]:
        h = hashlib.sha256(f"{accept}\n{url}".encode()).hexdigest()
        base = self.cache / h[:2] / h
        return base.with_suffix(".body"), base.with_suffix(".json")

    def _load_cached(self, url: str, accept: str) -> tuple[dict, bytes] | None:
        body_p, meta_p = self._paths(url, accept)
        try:
            meta = json.loads(meta_p.read_text())
            body = body_p.read_bytes()
        except (OSError, ValueError):
            return None
        # a body cut short or swapped on disk (a partly restored cache) is a miss, never an answer
        if not isinstance(meta, dict) or meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None
        return meta, body

    def _store(self, url: str, accept: str, meta: dict, body: bytes) -> None:
        body_p, meta_p = self._paths(url, accept)
        meta = {**meta, "sha256": hashlib.sha256(body).hexdigest()}
        try:
            body_p.parent.mkdir(parents=True, exist_ok=True)
            for p, data in ((body_p, body), (meta_p, json.dumps(meta).encode())):
                fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, p)
        except OSError:
            pass  # a cache that cannot be written is only slower

    # -- the API ----------------------------------------------------------------------------

    def get(self, url: str, *, ecosystem: str, package: str, accept: str = "*/*", cache: bool = True) -> Response:
        """GET a URL; raises NotFound for 404/410, RegistryError for anything else unusable."""
        key = (url, accept)
        while True:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
                if key in self._failed:
                    raise self._failed[key]
                ev = self._inflight.get(key)
                if ev is None:
                    ev = self._inflight[key] = threading.Event()
                    break
            ev.wait()
        try:
            try:
                resp = self._get(url, ecosystem=ecosystem, package=package, accept=accept, cache=cache)
            except (NotFound, RegistryError) as e:
                with self._lock:
                    self._failed[key] = e
                raise
            with self._lock:
                self._memo[key] = resp
            return resp
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            ev.set()

    def _get(self, url: str, *, ecosystem: str, package: str, accept: str, cache: bool) -> Response:
        cached = self._load_cached(url, accept) if cache else None
        if self.offline:
            if cached is None:
                raise RegistryError(ecosystem, package, "not in the local cache and --offline was given", url=url,
                                    hint="run once without --offline to fill the cache")
            meta, body = cached
            if meta.get("status") == 404:
                raise NotFound(url)
            return Response(url, 200, body, meta.get("headers", {}))
        headers = {"Accept": accept}
        if cached is not None:
            meta, _ = cached
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last-modified"):
                headers["If-Modified-Since"] = meta["last-modified"]
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                with self._lock:
                    self.requests += 1
                r = self._http().get(url, headers=headers)
            except httpx.TimeoutException:
                last_error = f"timed out after {self.timeout:g} s"
                continue
            except httpx.TransportError as e:
                last_error = f"could not connect: {e or type(e).__name__}"
                continue
            if r.status_code == 304 and cached is not None:
                meta, body = cached
                return Response(url, 200, body, meta.get("headers", {}))
            if r.status_code in (404, 410):
                raise NotFound(url)
            if r.status_code >= 500 or r.status_code == 429:
                last_error = f"server error HTTP {r.status_code}"
                continue
            if r.status_code != 200:
                # Registries explain refusals in a short text body (the Go proxy's 403/410 say
                # "not available", "unknown revision"): pass the first line on, never a page.
                said = r.text.strip().splitlines()[0][:200] if r.text.strip() and "html" not in r.headers.get("content-type", "") else ""
                raise RegistryError(ecosystem, package, f"unexpected HTTP {r.status_code}" + (f": {said}" if said else ""), url=url)
            body = r.content
            keep = {k: r.headers[k] for k in ("content-type",) if k in r.headers}
            if cache and (r.headers.get("etag") or r.headers.get("last-modified")):
                self._store(url, accept, {"etag": r.headers.get("etag"), "last-modified": r.headers.get("last-modified"),
                                          "headers": keep}, body)
            return Response(url, 200, body, keep)
        raise RegistryError(ecosystem, package, f"{last_error} ({self.retries + 1} attempts)", url=url,
                            hint="check the network or the registry URL (PPM_REGISTRY_<ECOSYSTEM>), or use --offline")

    def download(self, url: str, *, expected: str, ecosystem: str, package: str) -> bytes:
        """Fetch an artifact and check it against `expected` ("sha256:<hex>" or an SRI "sha512-...")."""
        try:
            body = self.get(url, ecosystem=ecosystem, package=package, cache=False).content
        except NotFound:
            raise RegistryError(ecosystem, package, "artifact not found", url=url) from None
        verify(body, expected, url=url)
        return body

    def fetch_many(self, jobs: Iterable[tuple[str, str, str, str]]) -> None:
        """Warm the run's memo for (url, ecosystem, package, accept) jobs in parallel; errors
        surface later, when the caller asks for that URL itself."""
        todo = [j for j in jobs if (j[0], j[3]) not in self._memo]
        if len(todo) < 2:
            return

        def one(job: tuple[str, str, str, str]) -> None:
            try:
                self.get(job[0], ecosystem=job[1], package=job[2], accept=job[3])
            except Exception:
                pass

        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(todo))) as ex:
            list(ex.map(one, todo))


def digest(content: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, content).hexdigest()}"


def verify(content: bytes, expected: str, *, url: str) -> None:
    """Raise HashMismatch unless `content` has the hash `expected` (hex "algo:..." or SRI "algo-base64")."""

    try:
        got = hashing.of_bytes(content, expected)
    except hashing.BadHash as e:
        raise HashMismatch(f"{url}: {e.message}") from None
    if got != expected:
        raise HashMismatch(f"hash mismatch for {url}: expected {expected}, got {got}",
                           hint="the registry or a proxy served different bytes than were locked; do not trust this file")


def _netrc_auth() -> httpx.Auth | None:
    """Registry credentials from $NETRC or ~/.netrc, sent only to the host each entry names;
    config files never hold credentials."""
    import os

    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not os.path.isfile(path):
        return None
    try:
        return httpx.NetRCAuth(path)
    except Exception as e:  # netrc.NetrcParseError and OSError: say which file, do not guess
        from ppm.core.errors import PpmError

        raise PpmError(f"{path}: cannot read registry credentials: {e}") from None
