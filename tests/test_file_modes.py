"""Files ppm rewrites keep their mode; new files and directories follow the umask (never
mkstemp's 0600 or mkdtemp's 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ppm.core.fsutil import atomic_write_text
from ppm.lockfile import model


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_rewritten_file_keeps_its_mode(tmp_path, umask_022):
    p = tmp_path / "Cargo.toml"
    p.write_text("a")
    os.chmod(p, 0o664)
    atomic_write_text(p, "b")
    assert p.read_text() == "b" and _mode(p) == 0o664
    os.chmod(p, 0o755)
    atomic_write_text(p, "c")
    assert _mode(p) == 0o755


def test_new_file_follows_the_umask(tmp_path, umask_022):
    atomic_write_text(tmp_path / "new.txt", "x")
    assert _mode(tmp_path / "new.txt") == 0o644
    os.umask(0o027)
    atomic_write_text(tmp_path / "other.txt", "x")
    assert _mode(tmp_path / "other.txt") == 0o640


def test_lock_and_manifest_keep_their_modes(tmp_path, umask_022):
    lock_path = tmp_path / model.LOCK
    model.write(lock_path, model.Lock(manifest_digest="sha256:1"))
    assert _mode(lock_path) == 0o644
    os.chmod(lock_path, 0o664)
    model.write(lock_path, model.Lock(manifest_digest="sha256:2"))
    assert _mode(lock_path) == 0o664
    from ppm.lockfile.project import _write_manifest

    (tmp_path / "ppm.toml").write_text("x")
    os.chmod(tmp_path / "ppm.toml", 0o660)
    _write_manifest(tmp_path, "[project]\n")
    assert _mode(tmp_path / "ppm.toml") == 0o660 and (tmp_path / "ppm.toml").read_text() == "[project]\n"


def test_init_directory_follows_the_umask(tmp_path, umask_022):
    from ppm.templates import create

    dest = create(tmp_path / "demo")
    assert _mode(dest) == 0o755
    assert _mode(dest / "ppm.toml") & 0o044 == 0o044
