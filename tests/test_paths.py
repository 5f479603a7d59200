"""ppm.core.paths and ppm.core.hashing: the one project-root finder, the one cache root, and
digest checks in both registry spellings."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from ppm.core import paths
from ppm.core.errors import ManifestError
from ppm.core.hashing import Digest, matches
from ppm.core.manifest import find_root


def test_project_root_is_found_from_below(tmp_path: Path) -> None:
    (tmp_path / "proj" / "a" / "b").mkdir(parents=True)
    (tmp_path / "proj" / "ppm.toml").write_text("")
    assert paths.find_project_root(tmp_path / "proj" / "a" / "b") == (tmp_path / "proj").resolve()
    assert find_root(tmp_path / "proj" / "a") == (tmp_path / "proj").resolve()


def test_no_project_is_none_or_a_clear_error(tmp_path: Path) -> None:
    assert paths.find_project_root(tmp_path) is None
    with pytest.raises(ManifestError, match="no ppm.toml in .* or any parent directory"):
        find_root(tmp_path)


def test_every_cache_is_under_one_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ppm import toolchains
    from ppm.lockfile.registries import http

    monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("PPM_TOOLCHAINS_DIR", raising=False)
    assert toolchains.cache_dir() == paths.cache_dir() == tmp_path / "c"
    assert http.cache_dir() == tmp_path / "c" / "http"
    assert paths.toolchains_dir() == tmp_path / "c" / "toolchains"


DATA = b"hello, ppm\n"


@pytest.mark.parametrize("spec", [
    "sha256:" + hashlib.sha256(DATA).hexdigest(),
    "SHA256:" + hashlib.sha256(DATA).hexdigest().upper(),
    "sha512-" + base64.b64encode(hashlib.sha512(DATA).digest()).decode(),  # npm integrity (SRI)
    "sha1:" + hashlib.sha1(DATA).hexdigest(),  # Maven's .sha1 sidecar
])
def test_digest_spellings_match(spec: str) -> None:
    assert matches(DATA, spec)
    assert not matches(DATA + b"x", spec)


def test_mismatch_is_spelled_like_the_expected_digest() -> None:
    d = Digest.parse("sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode())
    h = d.hasher()
    h.update(DATA)
    assert not d.matches(h)
    assert d.spell(h) == "sha512-" + base64.b64encode(hashlib.sha512(DATA).digest()).decode()


@pytest.mark.parametrize("spec", ["md5:abcd", "sha256", "sha256:", "crc32-AAAA", ""])
def test_unsupported_digests_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unsupported digest"):
        Digest.parse(spec)
