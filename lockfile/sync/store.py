"""The download store: every locked artifact by the hash the lock gives it, under
<cache>/artifacts. A file being there proves nothing (a CI cache restored from elsewhere, a
disk error, a hand edit): each one is checked against its hash every time it is used, and a bad
one is removed and fetched again. All or nothing: `fetch_all` raises before returning if any
artifact could not be had verified."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ppm.core import hashing
from ppm.core.paths import cache_dir
from ppm.lockfile import model
from ppm.lockfile.errors import HashMismatch, LockError, RegistryError
from ppm.lockfile.registries.go import hash_mod, hash_zip
from ppm.lockfile.registries.http import HttpClient, NotFound


@dataclass(frozen=True)
class Fetch:
    pkg: model.Package = field(compare=False, hash=False)
    url: str = ""
    hash: str = ""


def store_dir() -> Path:
    return cache_dir() / "artifacts"


def store_path(expected: str) -> Path:
    h = hashlib.sha256(expected.encode()).hexdigest()
    return store_dir() / h[:2] / h


def hash_like(path: Path, expected: str, url: str) -> str:
    """The file's hash in the form `expected` uses: Go's h1 for module zips and go.mod files."""
    if expected.startswith("h1:"):
        return hash_zip(path, f"Go module zip {url}") if url.endswith(".zip") else hash_mod(path.read_bytes())
    try:
        return hashing.of_file(path, expected)
    except hashing.BadHash as e:
        raise hashing.BadHash(f"{model.LOCK}: artifact {url}: {e.message}",
                              hint="run `ppm lock` to write the lock anew") from None


def _mismatch(j: Fetch, got: str) -> HashMismatch:
    return HashMismatch(
        f"{j.pkg.ecosystem} package {j.pkg.name} {j.pkg.version} from {j.pkg.source}: {j.url} does not match {model.LOCK} "
        f"(expected {j.hash}, got {got}); nothing was changed",
        hint="the registry or a proxy served other bytes than were locked: do not trust them; if the "
             "package was republished on purpose, `ppm lock --upgrade-package` re-locks it")


def _verified_in_store(j: Fetch) -> Path | None:
    """The stored file when it is there and has the locked hash; a bad one is removed."""
    p = store_path(j.hash)
    if not p.is_file():
        return None
    try:
        ok = hash_like(p, j.hash, j.url) == j.hash
    except LockError:
        ok = False  # not even a readable zip: corrupt, fetch again
    if ok:
        return p
    p.unlink(missing_ok=True)
    return None


def _download(http: HttpClient, j: Fetch) -> Path:
    try:
        body = http.get(j.url, ecosystem=j.pkg.ecosystem, package=j.pkg.name, cache=False).content
    except NotFound:
        raise RegistryError(j.pkg.ecosystem, j.pkg.name, f"{j.pkg.version}: locked artifact not found", url=j.url) from None
    dest = store_path(j.hash)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        got = hash_like(Path(tmp), j.hash, j.url)  # checked on disk, the same way a stored file is
        if got != j.hash:
            raise _mismatch(j, got)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def fetch_all(jobs: list[Fetch], *, offline: bool, report: Callable[[str], None] | None = None) -> dict[tuple[str, str], Path]:
    """(url, hash) -> a file in the store that has that hash. Raises (a hash mismatch first)
    before returning if any artifact is missing or bad."""
    out: dict[tuple[str, str], Path] = {}
    todo: list[Fetch] = []
    for j in dict.fromkeys(jobs):
        p = _verified_in_store(j)
        if p is not None:
            out[(j.url, j.hash)] = p
        else:
            todo.append(j)
    if not todo:
        return out
    if offline:
        j = todo[0]
        raise RegistryError(j.pkg.ecosystem, j.pkg.name, f"{j.pkg.version} is not downloaded and --offline was given", url=j.url)
    if report:
        report(f"downloading {len(todo)} locked artifact{'s' if len(todo) != 1 else ''}")
    errors: list[BaseException] = []
    with HttpClient(offline=offline) as http:
        def one(j: Fetch) -> None:
            try:
                out[(j.url, j.hash)] = _download(http, j)
            except BaseException as e:  # reported below, a mismatch first
                errors.append(e)

        with ThreadPoolExecutor(max_workers=min(16, len(todo))) as ex:
            list(ex.map(one, todo))
    if errors:
        mism = [e for e in errors if isinstance(e, HashMismatch)]
        raise (mism or errors)[0]
    return out

