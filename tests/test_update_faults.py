"""Faults during an update: the process killed at every step, a read-only install directory, a
full disk. The installed path must always hold a runnable old or new version, never neither."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_update_support import (
    Install,
    Published,
    make_install,
    needs_cc,
    output_of,
    run_update_subprocess,
)

from ppm.update import client as update

pytestmark = needs_cc
pytest_plugins = ("test_update_support",)  # its fixtures: bins, published, server, install


@pytest.mark.parametrize("method", ["patch", "compressed"])
@pytest.mark.parametrize("step", update.CRASH_STEPS)
def test_killed_at_every_step_leaves_a_runnable_version(published: Published, server: str, install: Install,
                                                         method: str, step: str) -> None:
    args = ["--current-version", "1.0.0"] if method == "patch" else []
    p = run_update_subprocess(server, install, *args, env={update.CRASH_ENV: step})
    assert p.returncode == 87, (p.returncode, p.stderr)  # killed where asked
    # Right after the kill: old or new, complete and runnable.
    assert output_of(install.exe) in {"1.0.0", "1.1.0"}
    expected_after_kill = "1.1.0" if step == "after-rename" else "1.0.0"
    assert output_of(install.exe) == expected_after_kill
    # The next run finishes or undoes the interrupted update, then updates normally.
    p = run_update_subprocess(server, install, *args)
    assert p.returncode == 0, p.stderr
    assert output_of(install.exe) == "1.1.0"
    state = install.dir / ".app.ppm-update"
    assert not (state / "journal.json").exists() and not (state / "staging").exists()
    assert not [x for x in install.dir.iterdir() if x.name not in {"app", "root.json", ".app.ppm-update"}]
    # And the version before is kept for rollback.
    restored = update.rollback(install.exe)
    assert restored == ("1.0.0" if method == "patch" else restored)  # unknown version: named by its sha256
    assert output_of(install.exe) == "1.0.0"


def test_killed_after_rename_with_bad_new_version_rolls_back_on_recovery(
        published: Published, server: str, install: Install, bins: dict[str, Path]) -> None:
    published.publish("1.2.0", bins["bad"])
    p = run_update_subprocess(server, install, "--current-version", "1.0.0", env={update.CRASH_ENV: "after-rename"})
    assert p.returncode == 87
    # Recovery runs the unconfirmed new version's self-check, which fails: back to 1.0.0.
    assert update.recover(install.exe).startswith("rolled back to 1.0.0")
    assert output_of(install.exe) == "1.0.0"


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"")
            for p in sorted(d.rglob("*"))}


@contextmanager
def _mount(kind: str, where: Path, *opts: str) -> Iterator[None]:
    """A real mount (tests run as root in a container that allows it); skip where it is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if not mount or not umount:
        pytest.skip("no mount(8)")
    if kind == "tmpfs":
        cmd = [mount, "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(where)]
    else:  # a read-only bind mount of `where` onto itself
        cmd = [mount, "--bind", str(where), str(where)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount here ({p.stderr.strip()}): needs CAP_SYS_ADMIN")
    try:
        if kind == "ro-bind":
            q = subprocess.run([mount, "-o", "remount,ro,bind", str(where)], capture_output=True, text=True)
            if q.returncode != 0:
                pytest.skip(f"cannot remount read-only: {q.stderr.strip()}")
        yield
    finally:
        subprocess.run([umount, "-l", str(where)], capture_output=True)


def test_read_only_install_dir_is_a_clear_error_and_changes_nothing(
        published: Published, server: str, install: Install, tmp_path: Path) -> None:
    # chmod does not stop root (the tests run as root), so the directory is a read-only bind mount:
    # the kernel refuses every write with EROFS, for root too.
    info = update.check(server, install.exe, "1.0.0", root_json=install.root_json)
    assert info is not None
    before = _listing(install.dir)
    with _mount("ro-bind", install.dir):
        with pytest.raises(update.UpdateError, match=r"cannot write beside .*Read-only file system.*nothing changed"):
            update.apply(info)
        with pytest.raises(update.UpdateError, match="Read-only"):
            update.check(server, install.exe, "1.0.0", root_json=install.root_json)
        p = run_update_subprocess(server, install, "--current-version", "1.0.0")
        assert p.returncode == 1 and "Read-only file system" in p.stderr and "Traceback" not in p.stderr
        assert _listing(install.dir) == before
    assert _listing(install.dir) == before
    assert output_of(install.exe) == "1.0.0"


def test_disk_full_is_a_clear_error_and_changes_nothing(published: Published, server: str, bins: dict[str, Path],
                                                        tmp_path: Path) -> None:
    mnt = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    with _mount("tmpfs", mnt, "size=512k"):
        inst = make_install(mnt / "install", bins["1.0.0"], published.root_json)
        # Metadata first (small), then fill the disk so the new version cannot be written.
        info = update.check(server, inst.exe, "1.0.0", root_json=inst.root_json)
        assert info is not None and info.method == "patch"
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        # Leave less room than the new version needs, but some.
        with open(filler, "r+b") as f:
            f.truncate(max(0, filler.stat().st_size - 8192))
        before = _listing(inst.dir)
        with pytest.raises(update.UpdateError, match="no space left on the device"):
            update.apply(info)
        assert _listing(inst.dir) == before
        assert output_of(inst.exe) == "1.0.0"
        # With room again, the same update goes through.
        filler.unlink()
        info = update.check(server, inst.exe, "1.0.0", root_json=inst.root_json)
        assert update.apply(info).version == "1.1.0"
        assert output_of(inst.exe) == "1.1.0"
        os.sync()
