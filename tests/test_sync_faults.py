"""Faults of the machine, not of the input: a full disk (a small tmpfs), read-only mounts,
concurrent syncs, a sync killed with SIGKILL. Afterwards the cache and the project must still be
usable, nothing unverified installed, and the user told in one line what happened and where.
Mounting needs root (CAP_SYS_ADMIN): those tests skip with the reason printed where it is refused."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ppm.build.localstore import LocalStore as Store
from ppm.build.results import ActionResult
from ppm.build.store import ActionRef
from ppm.core.errors import CacheError
from ppm.lockfile import project as lock_project
from ppm.lockfile.sync.state import is_synced


@contextmanager
def mounted(kind: str, where: Path, size: str = "1m") -> Iterator[None]:
    """tmpfs of `size` on the directory `where`, or `where` (a file or a directory) bound onto
    itself read-only."""
    if kind == "tmpfs":
        where.mkdir(parents=True, exist_ok=True)
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    else:
        cmd = ["mount", "--bind", str(where), str(where)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount here ({p.stderr.strip() or 'no mount(8)'}): needs root with CAP_SYS_ADMIN")
    try:
        if kind == "ro":
            q = subprocess.run(["mount", "-o", "remount,ro,bind", str(where)], capture_output=True, text=True)
            if q.returncode != 0:
                pytest.skip(f"cannot remount read-only: {q.stderr.strip()}")
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _one_output(tmp: Path, store: Store) -> ActionResult:
    f = tmp / "out.o"
    f.write_bytes(b"object")
    return ActionResult({"out.o": store.put_blob(f)})


# -- the action cache: only corruption is set aside ------------------------------------------


def test_readonly_action_cache_is_a_message_not_a_reset(tmp_path):
    store = Store(tmp_path / "cache")
    outs = _one_output(tmp_path, store)
    store.put_action_result(ActionRef("k1"), outs)
    store._db.close()
    store._db = None
    db = tmp_path / "cache" / "ac.sqlite"
    with mounted("ro", db), pytest.raises(CacheError) as e:
        Store(tmp_path / "cache").put_action_result(ActionRef("k2"), outs)
    assert "ac.sqlite" in str(e.value) and "hint:" in str(e.value)
    assert not list((tmp_path / "cache").glob("ac.sqlite.corrupt-*"))
    assert Store(tmp_path / "cache").get_action_result(ActionRef("k1")) == outs  # the entries survived


def test_full_disk_action_cache_is_a_message_not_a_reset(tmp_path):
    root = tmp_path / "small"
    with mounted("tmpfs", root, "256k"):
        store = Store(root / "cache")
        outs = _one_output(tmp_path, store)
        store.put_action_result(ActionRef("k0"), outs)
        fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last block
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        with pytest.raises(CacheError) as e:
            for i in range(2000):
                store.put_action_result(ActionRef(f"key-{i}-" + "x" * 500), outs)
        assert "disk is full" in str(e.value), str(e.value)
        assert not list((root / "cache").glob("ac.sqlite.corrupt-*"))
        (root / "filler").unlink()
        assert Store(root / "cache").get_action_result(ActionRef("k0")) == outs


def test_corrupt_action_cache_is_still_set_aside(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "ac.sqlite").write_bytes(b"this is not a database" * 100)
    store = Store(tmp_path / "cache")
    assert store.get_action_result(ActionRef("k")) is None
    assert list((tmp_path / "cache").glob("ac.sqlite.corrupt-*"))
    assert sqlite3.connect(str(tmp_path / "cache" / "ac.sqlite")).execute("SELECT count(*) FROM ac").fetchone() == (0,)


# -- sync under faults (through real ppm processes) -------------------------------------------


@pytest.fixture
def synced_world(tmp_path, monkeypatch):
    """The test_sync project, locked, its registry served on 127.0.0.1; environment for ppm processes."""
    from test_sync import CARGO_TOML, MANIFEST, universe

    from registry_server import RegistryServer

    reg = tmp_path / "reg"
    universe(reg)
    proj = tmp_path / "proj"
    for d in ("core/src", "ui/src", "app", "greeter"):
        (proj / d).mkdir(parents=True)
    (proj / "ppm.toml").write_text(MANIFEST)
    (proj / "core/Cargo.toml").write_text(CARGO_TOML)
    (proj / "core/src/lib.rs").write_text("")
    with RegistryServer(reg) as srv:
        env = {**srv.env(), "PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_HTTP_RETRIES": "0"}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        lock_project.lock(proj)
        yield proj, srv, {**os.environ, **env}


def _ppm(args: list[str], proj: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ppm", *args], cwd=proj, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _all_verified(cache: Path) -> None:
    from ppm.lockfile import model
    from ppm.lockfile.sync.store import hash_like, store_path

    lock = model.read(cache.parent / "proj" / "ppm.lock")
    for p in lock.packages.values():
        for a in p.artifacts:
            s = store_path(a.hash)
            if s.is_file():
                assert hash_like(s, a.hash, a.url) == a.hash, f"unverified bytes in the store for {a.url}"


def test_three_syncs_at_once(synced_world, tmp_path):
    proj, _srv, env = synced_world
    procs = [_ppm(["sync"], proj, env) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert is_synced(proj)
    assert not list(proj.rglob("*.tmp")) and not list(proj.rglob(".*.tmp-*"))
    _all_verified(tmp_path / "cache")


def test_sigkill_during_sync_leaves_cache_and_project_usable(synced_world, tmp_path):
    proj, srv, env = synced_world
    before = (proj / "core/Cargo.toml").read_text()
    srv.slow["/npm/is-number/-/"] = 2.0  # the other downloads land; this one is in flight
    p = _ppm(["sync"], proj, env)
    time.sleep(1.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (proj / "core/Cargo.toml").read_text() == before  # nothing the user owns was touched
    assert not (proj / "ui/node_modules").exists()
    _all_verified(tmp_path / "cache")
    srv.slow.clear()
    q = _ppm(["sync"], proj, env)
    _out, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert is_synced(proj) and (proj / "ui/node_modules/is-number/package.json").is_file()


def test_readonly_project_is_one_line(synced_world):
    proj, _srv, env = synced_world
    with mounted("ro", proj):
        p = _ppm(["sync"], proj, env)
        _out, err = p.communicate(timeout=300)
    assert p.returncode == 1 and "Traceback" not in err, err
    assert str(proj) in err and "Read-only file system" in err and "hint:" in err, err


def test_full_disk_during_sync_then_recovers(synced_world, tmp_path):
    proj, _srv, env = synced_world
    cache = tmp_path / "small-cache"
    env = {**env, "PPM_CACHE_DIR": str(cache)}
    with mounted("tmpfs", cache, "16k"):
        p = _ppm(["sync"], proj, env)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 1 and "Traceback" not in err, err
        assert "No space left on device" in err and "disk is full" in err, err
        assert not (proj / "ui/node_modules").exists() and "serde" not in (proj / "core/Cargo.toml").read_text()
    q = _ppm(["sync"], proj, env)  # the tmpfs is gone: a roomy disk again
    _out, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert is_synced(proj)


# -- a build on read-only state (real process; needs a C compiler) --------------------------------


def test_build_on_readonly_cache_and_state_is_one_line(tmp_path):
    import shutil

    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on this machine")
    proj = tmp_path / "ro"
    (proj / "lib" / "src").mkdir(parents=True)
    (proj / "ppm.toml").write_text('[project]\nname = "ro"\n\n[components.lib]\nbuilder = "cc"\nkind = "static"\n')
    src = proj / "lib" / "src" / "a.c"
    src.write_text("int f(void) { return 1; }\n")
    env = {**os.environ, "PPM_CACHE_DIR": str(tmp_path / "cache")}

    def build() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ppm", "build"], cwd=proj, env=env, capture_output=True, text=True,
                              timeout=300)

    assert build().returncode == 0
    for where, i in ((tmp_path / "cache", 2), (proj / ".ppm", 3)):
        src.write_text(f"int f(void) {{ return {i}; }}\n")
        with mounted("ro", where):
            r = build()
        assert r.returncode == 1 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert str(where) in r.stderr and "hint:" in r.stderr, r.stderr
    assert build().returncode == 0  # writable again: the cache and the project still work
