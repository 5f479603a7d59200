"""Shared fixtures. Every test gets its own ppm cache (PPM_CACHE_DIR) unless it asks for the
shared toolchain cache, so tests never see each other's action cache."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_inherited_ppm_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PPM_TOOLCHAINS_DIR", raising=False)
    # the key behind `ppm lock --check`'s record of a passed check: per test, never the user's
    monkeypatch.setenv("PPM_STATE_DIR", str(tmp_path / "ppm-state"))


@pytest.fixture
def ppm_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh action cache for this test; the provisioned toolchains stay shared (and offline:
    the README's test command provisions them before the tests run)."""
    from ppm.core.paths import toolchains_dir

    monkeypatch.setenv("PPM_TOOLCHAINS_DIR", str(toolchains_dir()))
    cache = tmp_path / "ppm-cache"
    monkeypatch.setenv("PPM_CACHE_DIR", str(cache))
    monkeypatch.setenv("PPM_OFFLINE", "1")
    return cache
