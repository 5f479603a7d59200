"""The shared cache against real servers on 127.0.0.1: BuildGrid (REAPI) and nginx with WebDAV
(Bazel's HTTP cache protocol). Two checkouts with two empty local caches share one remote;
faults: a corrupt blob, an unreachable cache, read-only mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_servers import BuildGrid, Nginx, free_port, missing_buildgrid, missing_nginx

from helpers import run_ppm

pytestmark = [pytest.mark.remote, pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")]


@pytest.fixture(scope="session")
def buildgrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildGrid]:
    if why := missing_buildgrid():
        pytest.skip(why)
    server = BuildGrid(tmp_path_factory.mktemp("bgd-cache"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if why := missing_nginx():
        pytest.skip(why)
    server = Nginx(tmp_path_factory.mktemp("nginx"))
    server.start()
    yield server
    server.stop()


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))


def c_project(root: Path, salt: str, extra: str = "") -> Path:
    """A static library and an executable linking it. `salt` makes the keys this test's own:
    the servers are shared by the session."""
    write(root / "ppm.toml", f"""\
        [project]
        name = "proj"
        version = "0.1.0"
        entry = "app"
        {extra}
        [components.mathx]
        builder = "cc"
        path = "mathx"
        kind = "static"

        [components.app]
        builder = "cc"
        path = "app"
        kind = "executable"
        needs = ["mathx"]
        ldflags = ["{{dep:mathx}}/libmathx.a"]
        """)
    write(root / "mathx/include/mathx.h", "int add(int a, int b);\n")
    write(root / "mathx/src/add.c", f"""\
        #include "mathx.h"
        __attribute__((used)) static const char salt[] = "{salt}";
        int add(int a, int b) {{ return a + b; }}
        """)
    write(root / "app/src/main.c", f"""\
        #include <stdio.h>
        __attribute__((used)) static const char salt[] = "{salt}";
        int add(int, int);
        int main(void) {{ printf("%d\\n", add(2, 3)); return 0; }}
        """)
    return root


def checkout(tmp_path: Path, name: str, salt: str, extra: str = "") -> tuple[Path, dict[str, str]]:
    """A project and an environment with its own empty local cache (toolchains shared)."""
    root = c_project(tmp_path / name, salt, extra)
    return root, {"PPM_CACHE_DIR": str(tmp_path / f"{name}-cache")}


def build(root: Path, env: dict[str, str], *args: str, check: bool = True) -> tuple[dict, subprocess.CompletedProcess[str]]:
    p = run_ppm("build", "--json", *args, cwd=root, env=env, check=check)
    return (json.loads(p.stdout) if p.stdout.strip() else {}), p


def bundle(root: Path) -> bytes:
    (exe,) = (root / "dist").glob("*/app")
    return exe.read_bytes()


@pytest.mark.parametrize("server", ["buildgrid", "nginx"])
def test_two_checkouts_share_one_remote_cache(server: str, request: pytest.FixtureRequest, tmp_path: Path,
                                               ppm_cache: Path) -> None:
    url = request.getfixturevalue(server).url
    salt = uuid.uuid4().hex
    a, env_a = checkout(tmp_path, "a", salt)
    b, env_b = checkout(tmp_path, "b", salt)
    first, _ = build(a, env_a, "--remote-cache", url)
    assert first["actions_executed"] == first["actions_planned"] == 4
    assert first["actions_remote_cached"] == 0
    second, p = build(b, env_b, "--remote-cache", url, "--explain")
    assert second["actions_executed"] == 0, p.stderr
    assert second["actions_remote_cached"] == second["actions_planned"] == 4
    assert "from the remote cache" in p.stderr
    assert bundle(a) == bundle(b)
    (exe,) = (b / "dist").glob("*/app")
    assert subprocess.run(["env", "-i", str(exe)], capture_output=True, text=True, check=True).stdout == "5\n"
    # What came from the remote now sits in b's local cache: a third checkout on b's cache asks nobody.
    c, _ = checkout(tmp_path, "c", salt)
    third, _ = build(c, env_b)
    assert third["actions_cached"] == 4 and third["actions_remote_cached"] == 0


def test_config_from_ppm_toml_and_environment(buildgrid: BuildGrid, tmp_path: Path, ppm_cache: Path) -> None:
    salt = uuid.uuid4().hex
    a, env_a = checkout(tmp_path, "a", salt, extra=f'\n[remote]\ncache = "{buildgrid.url}"\n')
    build(a, env_a)
    b, env_b = checkout(tmp_path, "b", salt)
    second, _ = build(b, {**env_b, "PPM_REMOTE_CACHE": buildgrid.url})
    assert second["actions_remote_cached"] == 4 and second["actions_executed"] == 0


def test_read_only_writes_nothing(nginx: Nginx, buildgrid: BuildGrid, tmp_path: Path, ppm_cache: Path) -> None:
    salt = uuid.uuid4().hex
    before = sorted(p.relative_to(nginx.data) for p in nginx.data.rglob("*"))
    a, env_a = checkout(tmp_path, "a", salt)
    s, _ = build(a, env_a, "--remote-cache", nginx.url, "--no-remote-upload")
    assert s["actions_executed"] == 4
    assert sorted(p.relative_to(nginx.data) for p in nginx.data.rglob("*")) == before
    # The same through REAPI: a second checkout finds nothing, and the environment switch works too.
    build(a, {**env_a, "PPM_CACHE_DIR": str(tmp_path / "a2-cache"), "PPM_REMOTE_UPLOAD": "0"}, "--remote-cache", buildgrid.url)
    b, env_b = checkout(tmp_path, "b", salt)
    s, _ = build(b, env_b, "--remote-cache", buildgrid.url, "--no-remote-upload")
    assert s["actions_remote_cached"] == 0 and s["actions_executed"] == 4


def test_corrupt_blob_is_refused_and_rebuilt(nginx: Nginx, tmp_path: Path, ppm_cache: Path) -> None:
    salt = uuid.uuid4().hex
    a, env_a = checkout(tmp_path, "a", salt)
    first, _ = build(a, env_a, "--remote-cache", nginx.url)
    link = next(x for x in first["actions"] if x["id"] == "app:link")
    digest = link["outputs"]["app"]["sha256"]
    blob = nginx.data / "cas" / digest
    blob.write_bytes(b"\x7fELF not what you asked for")  # the server now serves bad bytes under that name
    b, env_b = checkout(tmp_path, "b", salt)
    second, p = build(b, env_b, "--remote-cache", nginx.url)
    status = {x["id"]: (x["status"], x["remote"]) for x in second["actions"]}
    assert status["app:link"] == ("ran", False)
    assert status["mathx:link"] == ("cached", True)
    assert "corrupt blob" in p.stderr and digest in p.stderr
    assert bundle(b) == bundle(a)
    # The local run re-uploaded the good blob: the remote is healed.
    assert blob.read_bytes() == bundle(a)


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_unreachable_cache_falls_back_to_local_with_one_warning(scheme: str, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    s, p = build(a, env, "--remote-cache", f"{scheme}://127.0.0.1:{free_port()}")
    assert s["actions_executed"] == 4 and s["actions_failed"] == 0
    assert p.stderr.count("warning:") == 1, p.stderr
    assert "building locally" in p.stderr


@pytest.mark.parametrize(("args", "extra", "expected"), [
    (["--remote-cache", "ftp://example.org"], "", "is not a remote URL"),
    (["--remote-executor", "http://127.0.0.1:1"], "", "is not a remote URL"),
    (["--remote-fallback", "sometimes", "--remote-cache", "grpc://127.0.0.1:1"], "", "--remote-fallback"),
    ([], '\n[remote]\ntoken = "s3cret"\n', "credentials do not belong in ppm.toml"),
    ([], '\n[remote]\ncache = "ftp://x"\n', "remote.cache must be a URL"),
])
def test_bad_remote_settings_are_named(args: list[str], extra: str, expected: str, tmp_path: Path,
                                       ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", "x", extra)
    p = run_ppm("build", *args, cwd=a, env=env, check=False)
    assert p.returncode != 0 and expected in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    if not extra:
        assert p.returncode == 2
    else:
        assert "ppm.toml:" in p.stderr


def test_headers_come_from_the_environment_only() -> None:
    from ppm.remote.config import RemoteConfigError, headers_from_env, resolve

    env = {"PPM_REMOTE_HEADERS": "x-team=build, x-other = 1", "PPM_REMOTE_TOKEN": "t0k"}
    assert headers_from_env(env) == (("x-team", "build"), ("x-other", "1"), ("authorization", "Bearer t0k"))
    cfg = resolve({"cache": "grpc://h:1"}, env=env)
    assert cfg.cache == "grpc://h:1" and ("authorization", "Bearer t0k") in cfg.headers
    with pytest.raises(RemoteConfigError):
        headers_from_env({"PPM_REMOTE_HEADERS": "novalue"})
    assert resolve(None, executor="grpc://h:2", env={}).cache_url == "grpc://h:2"
    with pytest.raises(RemoteConfigError):
        resolve(None, executor="grpc://h:2", cache="grpc://h:3", env={})


def test_no_grpc_for_help_or_a_noop_build(buildgrid: BuildGrid, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex, extra=f'\n[remote]\ncache = "{buildgrid.url}"\n')
    build(a, env)
    probe = textwrap.dedent("""\
        import sys
        from ppm.__main__ import main
        sys.argv = ["ppm", *sys.argv[1:]]
        try:
            main()
        except SystemExit:
            pass
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "google") or m.startswith("ppm.remote.protos"))
        print("HEAVY", heavy, file=sys.stderr)
        """)
    for args in (["--help"], ["build"], ["build", "--remote-cache", buildgrid.url]):
        p = subprocess.run([sys.executable, "-c", probe, *args], cwd=a, env={**os.environ, **env},
                           capture_output=True, text=True, timeout=120)
        assert "HEAVY []" in p.stderr, (args, p.stderr)
