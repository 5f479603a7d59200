"""Registries named in ppm.toml and in the user config, the environment winning over both, and
credentials only from a netrc file: `ppm lock` through a real process against the fixture
registry server (tests/registry_server.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from helpers import run_ppm
from registry_server import RegistryServer

MANIFEST = """\
[project]
name = "demo"
targets = ["linux-x86_64"]
{registries}
[components.api]
builder = "pyinstaller"

[dependencies.pypi]
idna = ">=3.0"
"""
DEAD = "http://127.0.0.1:9/simple/"  # the discard port: nothing answers there


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with RegistryServer() as s:
        yield s


def project(tmp_path: Path, registries: str = "") -> Path:
    root = tmp_path / "demo"
    (root / "api").mkdir(parents=True, exist_ok=True)
    (root / "ppm.toml").write_text(MANIFEST.format(registries=registries))
    return root


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # No inherited registry variables: each test says where the registry is.
    base = {f"PPM_REGISTRY_{e}": "" for e in ("PYPI", "NPM", "CARGO", "GO", "MAVEN")}
    return {**base, "PPM_CONFIG": str(tmp_path / "config.toml"), "NETRC": str(tmp_path / "netrc"), **extra}


def pypi_requests(server: RegistryServer) -> list[str]:
    return [p for p, _ in server.auth if p.startswith("/pypi/")]


def test_registry_from_ppm_toml(tmp_path: Path, server: RegistryServer) -> None:
    root = project(tmp_path, f'\n[registries]\npypi = "{server.urls["pypi"]}"\n')
    run_ppm("lock", cwd=root, env=env(tmp_path))
    assert "/pypi/simple/idna/" in pypi_requests(server)
    assert server.urls["pypi"] in (root / "ppm.lock").read_text()  # the lock records where idna came from


def test_environment_wins_over_ppm_toml(tmp_path: Path, server: RegistryServer) -> None:
    root = project(tmp_path, f'\n[registries]\npypi = "{DEAD}"\n')
    run_ppm("lock", cwd=root, env=env(tmp_path, PPM_REGISTRY_PYPI=server.urls["pypi"]))
    assert "/pypi/simple/idna/" in pypi_requests(server)


def test_registry_from_user_config(tmp_path: Path, server: RegistryServer) -> None:
    root = project(tmp_path)
    (tmp_path / "config.toml").write_text(f'[registries]\npypi = "{server.urls["pypi"]}"\n')
    run_ppm("lock", cwd=root, env=env(tmp_path))
    assert "/pypi/simple/idna/" in pypi_requests(server)


def test_credentials_come_from_netrc_only(tmp_path: Path, server: RegistryServer) -> None:
    root = project(tmp_path, '\n[registries]\npypi = "https://user:secret@pypi.example/simple/"\n')
    p = run_ppm("lock", cwd=root, env=env(tmp_path), check=False)
    assert p.returncode == 1
    assert "ppm.toml" in p.stderr and "registries.pypi: the URL holds credentials" in p.stderr and "netrc" in p.stderr
    (root / "ppm.toml").write_text(MANIFEST.format(registries=f'\n[registries]\npypi = "{server.urls["pypi"]}"\n'))
    (tmp_path / "netrc").write_text("machine 127.0.0.1 login alice password s3cret\n")
    run_ppm("lock", cwd=root, env=env(tmp_path))
    sent = {a for p, a in server.auth if p.startswith("/pypi/")}
    assert sent == {"Basic " + base64.b64encode(b"alice:s3cret").decode()}


def test_bad_registries_are_named(tmp_path: Path) -> None:
    root = project(tmp_path, '\n[registries]\npipy = "https://x.example/"\n')
    p = run_ppm("lock", cwd=root, env=env(tmp_path), check=False)
    assert p.returncode == 1 and "registries.pipy: unknown ecosystem" in p.stderr
    root = project(tmp_path, '\n[registries]\npypi = "ftp://x.example/"\n')
    p = run_ppm("lock", cwd=root, env=env(tmp_path), check=False)
    assert p.returncode == 1 and "'ftp://x.example/' is not an http(s) URL" in p.stderr
