"""A hostile registry and a hostile ppm.lock, for each of the five ecosystems, on 127.0.0.1:
names that would become paths outside the project, archive members that escape, decompression
bombs, a registry that serves other bytes than were locked, and a download store whose files
were swapped. Each must be refused with a message, and nothing outside the project (nor the
user's own files inside it) may change."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_sync import CARGO_TOML, MANIFEST, universe

from helpers import run_ppm
from ppm.lockfile import project as lock_project
from ppm.lockfile import sync
from ppm.lockfile.errors import HashMismatch, LockError
from registry_server import RegistryServer, _tgz, _write, npm_package


def _snapshot(d: Path) -> dict[str, bytes]:
    """What the user owns under `d` (ppm's own .ppm/ state, such as its lock file, left out)."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and ".ppm" not in p.relative_to(d).parts}


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """(project, server, registry dir, outside dir): the test_sync universe, served from a
    registry dir the test may poison before locking; `outside` must stay as it is."""
    reg = tmp_path / "reg"
    universe(reg)
    outside = tmp_path / "outside"
    (outside / "victim-1.0.200").mkdir(parents=True)
    (outside / "victim-1.0.200" / "keep.txt").write_text("the user's\n")
    proj = tmp_path / "a" / "b" / "proj"
    for d in ("core/src", "ui/src", "app", "greeter"):
        (proj / d).mkdir(parents=True)
    (proj / "ppm.toml").write_text(MANIFEST)
    (proj / "core/Cargo.toml").write_text(CARGO_TOML)
    (proj / "core/src/lib.rs").write_text("")
    with RegistryServer(reg) as srv:
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("PPM_HTTP_RETRIES", "0")
        monkeypatch.chdir(proj)
        yield proj, srv, reg, outside


def _nothing_escaped(tmp_path: Path, outside: Path) -> None:
    assert _snapshot(outside) == {"victim-1.0.200/keep.txt": b"the user's\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "cache", "outside", "reg"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


# -- names from the registry ----------------------------------------------------------------


def test_npm_registry_naming_a_dependency_by_a_path_is_refused(hostile, tmp_path):
    proj, _srv, reg, outside = hostile
    npm_package(reg, "left-pad", {"1.3.0": {"../../../../outside/x": "^1.0.0"}})
    npm_package(reg, "../../../../outside/x", {"1.0.0": {}})
    with pytest.raises(LockError, match=r"npm registry .*: npm package name '../../../../outside/x' is not valid"):
        lock_project.lock(proj)
    assert not (proj / "ppm.lock").exists()
    _nothing_escaped(tmp_path, outside)


def test_go_registry_naming_an_invalid_module_is_refused(hostile, tmp_path):
    from registry_server import go_module

    proj, _srv, reg, _outside = hostile
    go_module(reg, "example.com/lib", {"v1.1.0": ["Example.COM/Evil v1.0.0"]})
    go_module(reg, "Example.COM/Evil", {"v1.0.0": []})
    with pytest.raises(LockError, match=r"go registry .*: go package name 'Example.COM/Evil' is not valid"):
        lock_project.lock(proj)


@pytest.mark.parametrize("eco,table,name", [
    ("npm", "dependencies.npm", "../../x"), ("cargo", "components.core.dependencies.cargo", "/abs/path"),
    ("pypi", "components.app.dependencies.pypi", "../x"), ("go", "dependencies.go", "example.com/../../x"),
    ("maven", "components.greeter.dependencies.maven", "..:x"),
])
def test_manifest_names_are_checked_before_any_request(hostile, eco, table, name):
    proj, srv, _reg, _outside = hostile
    header = f"[{table}]\n"  # the bad name joins the ecosystem's existing table
    text = MANIFEST.replace(header, header + f'"{name}" = "1"\n')
    assert text != MANIFEST
    (proj / "ppm.toml").write_text(text)
    n = len(srv.log)
    with pytest.raises(LockError, match=re.escape(f"ppm.toml [{table}]: {eco} package name {name!r} is not valid")):
        lock_project.lock(proj)
    assert len(srv.log) == n


# -- names and hashes from an edited ppm.lock ---------------------------------------------------


LOCK_EDITS = {  # ecosystem: (locked name, hostile name)
    "npm": ("is-number", "../../../../outside/x"),
    "cargo": ("serde_derive", "../../../../../outside/victim"),
    "pypi": ("idna", "../../../x"),
    "go": ("example.com/dep", "/tmp/abs"),
    "maven": ("org.ex:core", "..:..")
}


@pytest.mark.parametrize("eco", sorted(LOCK_EDITS))
def test_lock_naming_a_path_is_refused_at_read(hostile, tmp_path, eco):
    proj, _srv, _reg, outside = hostile
    lock_project.lock(proj)
    good, bad = LOCK_EDITS[eco]
    text = (proj / "ppm.lock").read_text()
    edited = text.replace(f'"{eco}:{good}@', f'"{eco}:{bad}@').replace(f'name = "{good}"', f'name = "{bad}"')
    assert edited != text
    (proj / "ppm.lock").write_text(edited)
    before = _snapshot(proj)
    with pytest.raises(LockError, match=r"ppm.lock:\d+: package .* is refused"):
        sync.sync(proj)
    assert _snapshot(proj) == before
    _nothing_escaped(tmp_path, outside)


def test_lock_with_npm_install_path_outside_is_refused(hostile, tmp_path):
    proj, _srv, _reg, outside = hostile
    lock_project.lock(proj)
    text = (proj / "ppm.lock").read_text()
    edited = text.replace('"node_modules/is-number"', '"node_modules/../../../../../outside/npm"')
    assert edited != text
    (proj / "ppm.lock").write_text(edited)
    with pytest.raises(LockError, match=r"ppm.lock:\d+: package 'npm:is-number@7.0.0': install path .* is refused"):
        sync.sync(proj)
    assert not (proj / "ui/package-lock.json").exists() and not (proj / "ui/node_modules").exists()
    _nothing_escaped(tmp_path, outside)


def test_unknown_hash_algorithm_in_lock_is_one_message(hostile):
    proj, _srv, _reg, _outside = hostile
    lock_project.lock(proj)
    text = (proj / "ppm.lock").read_text()
    (proj / "ppm.lock").write_text(re.sub(r'(url = "[^"]*", hash = ")sha256:', r"\1md5:", text, count=1))
    r = run_ppm("sync", cwd=proj, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "unknown or refused algorithm 'md5'" in r.stderr and "ppm.lock" in r.stderr


def test_corrupt_lock_is_reported_as_corrupt_not_out_of_date(hostile):
    proj, _srv, _reg, _outside = hostile
    lock_project.lock(proj)
    text = (proj / "ppm.lock").read_text()
    (proj / "ppm.lock").write_text(text.replace("version = 1\n", "version = 1\n[[[\n", 1))
    with pytest.raises(LockError) as e:
        sync.sync(proj)
    assert "out of date" not in str(e.value) and "ppm.lock" in str(e.value)


# -- archives -------------------------------------------------------------------------------


def _tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def _member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    i = tarfile.TarInfo(name)
    i.type, i.linkname, i.mode = kind, link, 0o644
    if kind == tarfile.REGTYPE:
        i.size = len(data)
        return i, data
    return i, None


def _republish_npm(reg: Path, name: str, version: str, body: bytes) -> None:
    """Serve `body` as the package's tarball, with a packument whose integrity matches it (a
    registry that publishes a hostile package, not one that tampers after the lock)."""
    import base64
    import hashlib

    tar = f"{name}-{version}.tgz"
    _write(reg, f"npm/tarballs/{tar}", body)
    doc = json.loads((reg / f"npm/{name}.json").read_text())
    doc["versions"][version]["dist"]["integrity"] = "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()
    (reg / f"npm/{name}.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("member", [
    _member("package/../../../../../outside/npm.txt"), _member("/tmp/ppm-abs-member.txt"),
    _member("package/link", kind=tarfile.SYMTYPE, link="/etc/passwd"),
    _member("package/hard", kind=tarfile.LNKTYPE, link="../../../outside/victim-1.0.200/keep.txt"),
], ids=["dotdot", "absolute", "symlink", "hardlink"])
def test_hostile_archive_member_is_refused_and_nothing_changes(hostile, tmp_path, member):
    proj, _srv, reg, outside = hostile
    good = _member("package/package.json", json.dumps({"name": "is-number", "version": "7.0.0"}).encode())
    _republish_npm(reg, "is-number", "7.0.0", _tar_with([good, member]))
    lock_project.lock(proj)
    (proj / "ui/package.json").write_text('{"name": "ui", "version": "1.0.0"}\n')
    before = _snapshot(proj)
    with pytest.raises(LockError, match=r"npm package is-number 7\.0\.0: (unsafe path|link)"):
        sync.sync(proj)
    after = _snapshot(proj)
    assert after == before  # package.json, package-lock.json, Cargo.toml: all as they were
    assert not list(proj.rglob(".node_modules.tmp-*")) and not Path("/tmp/ppm-abs-member.txt").exists()
    _nothing_escaped(tmp_path, outside)


def test_npm_bomb_is_refused_within_the_byte_limit(hostile, monkeypatch):
    proj, _srv, reg, _outside = hostile
    bomb = _tgz({"package/package.json": "{}", "package/zeros.bin": b"\0" * (8 << 20)})
    _republish_npm(reg, "is-number", "7.0.0", bomb)
    lock_project.lock(proj)
    monkeypatch.setenv("PPM_EXTRACT_MAX_BYTES", str(1 << 20))
    with pytest.raises(LockError, match="more than 1048576 bytes; refused as a decompression bomb"):
        sync.sync(proj)
    assert not (proj / "ui/node_modules").exists()


def test_npm_bomb_is_refused_by_ratio_under_default_limits(hostile):
    proj, _srv, reg, _outside = hostile
    bomb = _tgz({"package/package.json": "{}", "package/zeros.bin": b"\0" * (80 << 20)})  # ~80 KB packed
    _republish_npm(reg, "is-number", "7.0.0", bomb)
    lock_project.lock(proj)
    with pytest.raises(LockError, match="expands more than 200 times"):
        sync.sync(proj)


def test_go_zip_bomb_is_refused_while_locking(hostile, monkeypatch):
    proj, _srv, reg, _outside = hostile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("example.com/lib@v1.1.0/go.mod", "module example.com/lib\n")
        z.writestr("example.com/lib@v1.1.0/zeros.go", b"\0" * (16 << 20))
    (reg / "go/example.com/lib/@v/v1.1.0.zip").write_bytes(buf.getvalue())
    monkeypatch.setenv("PPM_EXTRACT_MAX_BYTES", str(4 << 20))
    with pytest.raises(LockError, match=r"Go module zip.*refused as a decompression bomb"):
        lock_project.lock(proj)


# -- a registry that serves other bytes than were locked; a poisoned download store -----------


TAMPER = {
    "cargo": "/cargo/dl/serde/1.0.200/download",
    "npm": "/npm/is-number/-/is-number-7.0.0.tgz",
    "pypi": "/pypi/files/idna/idna-3.7-py3-none-any.whl",
    "go": "/go/example.com/lib/@v/v1.1.0.mod",  # h1 of a zip covers its files, not its bytes
    "maven": "/maven/org/ex/core/2.0/core-2.0.jar",
}


@pytest.mark.parametrize("eco", sorted(TAMPER))
def test_registry_serving_other_bytes_changes_nothing(hostile, eco):
    proj, srv, _reg, _outside = hostile
    lock_project.lock(proj)
    before = _snapshot(proj)
    srv.tamper.add(TAMPER[eco])
    with pytest.raises(HashMismatch, match=r"does not match ppm\.lock"):
        sync.sync(proj)
    assert _snapshot(proj) == before


def test_swapped_store_entries_are_refetched_never_installed(hostile):
    proj, srv, _reg, _outside = hostile
    lock_project.lock(proj)
    sync.sync(proj)
    good = (proj / "ui/node_modules/is-number/index.js").read_bytes()
    store = Path(os.environ["PPM_CACHE_DIR"]) / "artifacts"
    evil = _tgz({"package/index.js": "require('child_process').exec('evil')\n", "package/package.json": "{}"})
    entries = [p for p in store.rglob("*") if p.is_file()]
    for p in entries:  # a CI cache restored from elsewhere
        p.write_bytes(evil)
    shutil.rmtree(proj / "ui/node_modules")
    shutil.rmtree(proj / ".ppm/vendor")
    (proj / ".ppm/sync/state.json").unlink()
    with pytest.raises(Exception, match="not downloaded and --offline"):
        sync.sync(proj, offline=True)
    assert not (proj / "ui/node_modules").exists()
    n = len(srv.log)
    sync.sync(proj)
    assert len(srv.log) - n >= len(entries) // 2  # fetched again
    assert (proj / "ui/node_modules/is-number/index.js").read_bytes() == good
    assert b"evil" not in b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())


def test_hostile_lock_through_a_real_process(hostile, tmp_path):
    proj, _srv, _reg, _outside = hostile
    lock_project.lock(proj)
    text = (proj / "ppm.lock").read_text()
    edited = text.replace('"npm:is-number@', '"npm:../../x@').replace('name = "is-number"', 'name = "../../x"')
    (proj / "ppm.lock").write_text(edited)
    r = run_ppm("sync", cwd=proj, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.search(r"ppm.lock:\d+: package 'npm:../../x@7.0.0' is refused", r.stderr), r.stderr


# -- hostile archives from the other ecosystems ------------------------------------------------


def _republish_crate(reg: Path, name: str, version: str, body: bytes) -> None:
    """The crate's .crate file and its index line's cksum, both the registry's."""
    import hashlib

    from registry_server import cargo_index_path

    (reg / f"cargo/crates/{name}-{version}.crate").write_bytes(body)
    index = reg / "cargo/index" / cargo_index_path(name)
    lines = [json.loads(x) for x in index.read_text().splitlines() if x.strip()]
    for line in lines:
        if line["vers"] == version:
            line["cksum"] = hashlib.sha256(body).hexdigest()
    index.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_crate_with_an_escaping_member_is_refused(hostile, tmp_path):
    proj, _, reg, outside = hostile
    evil = _tar_with([_member("serde_derive-1.0.200/Cargo.toml", b"[package]\n"),
                      _member("serde_derive-1.0.200/../../../../../../outside/crate.txt")])
    _republish_crate(reg, "serde_derive", "1.0.200", evil)
    lock_project.lock(proj)
    before = _snapshot(proj)
    with pytest.raises(LockError, match=r"crate serde_derive 1\.0\.200: unsafe path"):
        sync.sync(proj)
    assert _snapshot(proj) == before and not (proj / ".ppm/vendor/cargo/serde-1.0.200").exists()
    _nothing_escaped(tmp_path, outside)


def test_go_zip_with_an_escaping_member_is_refused_while_locking(hostile):
    proj, _, reg, _ = hostile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("example.com/lib@v1.1.0/go.mod", "module example.com/lib\n")
        z.writestr("../../../outside/go.txt", "x")
    (reg / "go/example.com/lib/@v/v1.1.0.zip").write_bytes(buf.getvalue())
    with pytest.raises(LockError, match=r"Go module zip.*: unsafe path '\.\./\.\./\.\./outside/go\.txt'"):
        lock_project.lock(proj)
    assert not (proj / "ppm.lock").exists()


def test_wheel_bomb_is_refused_before_pip_sees_it(hostile, monkeypatch):
    import hashlib

    proj, _, reg, _ = hostile
    wheel = reg / "pypi/files/idna/idna-3.7-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("idna/zeros.bin", b"\0" * (8 << 20))
    doc = json.loads((reg / "pypi/simple/idna.json").read_text())
    for f in doc["files"]:
        if f["filename"] == wheel.name:
            f["hashes"]["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (reg / "pypi/simple/idna.json").write_text(json.dumps(doc))
    lock_project.lock(proj)
    monkeypatch.setenv("PPM_EXTRACT_MAX_BYTES", str(1 << 20))
    with pytest.raises(LockError, match=r"pypi package idna 3\.7 \(idna-3\.7-py3-none-any\.whl\): unpacks to more than"):
        sync.sync(proj)
    assert not (proj / ".ppm/vendor/pypi/app/site").exists()


def test_restored_project_state_is_not_trusted(hostile, tmp_path, monkeypatch):
    """A .ppm/ restored from a CI cache (or copied from elsewhere) claims a sync happened and
    carries vendored crates whose checksum record was rewritten to match altered files."""
    import hashlib

    from ppm.core import manifest

    proj, _, _, _ = hostile
    lock_project.lock(proj)
    sync.sync(proj)
    lib = proj / ".ppm/vendor/cargo/serde-1.0.200/src/lib.rs"
    good = lib.read_bytes()
    lib.write_bytes(b"compile_error!(\"poisoned\");\n")
    marker = lib.parents[1] / ".cargo-checksum.json"
    ck = json.loads(marker.read_text())
    ck["files"]["src/lib.rs"] = hashlib.sha256(lib.read_bytes()).hexdigest()
    marker.write_text(json.dumps(ck))
    assert sync.is_synced(proj)  # on the machine that wrote it the record holds...
    monkeypatch.setenv("PPM_STATE_DIR", str(tmp_path / "ci-runner"))  # ...elsewhere it does not
    assert not sync.is_synced(proj)
    sync.ensure_synced(proj, manifest.load(proj))
    assert lib.read_bytes() == good and sync.is_synced(proj)


def test_http_cache_entry_changed_on_disk_is_a_miss(hostile):
    from ppm.lockfile.registries.http import HttpClient

    _proj, srv, _, _ = hostile
    url = f"{srv.base}/npm/is-number"
    with HttpClient() as http:
        good = http.get(url, ecosystem="npm", package="is-number").content
    cache = Path(os.environ["PPM_CACHE_DIR"]) / "http"
    bodies = list(cache.rglob("*.body"))
    assert bodies
    for b in bodies:
        b.write_bytes(b'{"versions": {}}')  # the server would answer 304 to the stored ETag
    n = len(srv.log)
    with HttpClient() as http:
        assert http.get(url, ecosystem="npm", package="is-number").content == good
    assert srv.log[n:] == [("/npm/is-number", 200)]  # asked anew, without If-None-Match
