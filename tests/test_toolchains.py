"""Toolchains: provisioning from a fake registry on 127.0.0.1 (hash checks, atomic installs,
two processes at once, retries, offline), probes of tools found on the machine, and the CLI.
Only the test marked `live` reaches the real registries."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ppm import toolchains
from ppm.core.errors import ToolchainError
from ppm.toolchains import Artifact, Pin, provisioning, resolve

REPO = Path(__file__).resolve().parent.parent
FAKE_ZIG = "#!/bin/sh\necho 0.17.1-fake\n"
FAKE_ESBUILD = "#!/bin/sh\necho 0.28.2-fake\n"


# -- a fake registry ---------------------------------------------------------------------------


class FakeRegistry:
    """Serves files by path; can fail a path N times, delay it, or stall halfway through it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, int] = {}  # path -> how many more requests answer 503
        self.delay: dict[str, float] = {}  # path -> seconds before answering
        self.stall: set[str] = set()  # paths that send half the body and then hang
        self.release = threading.Event()
        self.hits: dict[str, int] = {}
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                registry.hits[path] = registry.hits.get(path, 0) + 1
                time.sleep(registry.delay.get(path, 0))
                if registry.fail.get(path, 0) > 0:
                    registry.fail[path] -= 1
                    self.send_error(503)
                    return
                body = registry.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in registry.stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    registry.release.wait(60)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    reg = FakeRegistry()
    monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PPM_PYPI_URL", reg.url + "/pypi")
    monkeypatch.setenv("PPM_NPM_REGISTRY", reg.url + "/npm/")
    monkeypatch.delenv("PPM_OFFLINE", raising=False)
    yield reg
    reg.close()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _zip(files: dict[str, tuple[str, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            z.writestr(info, text)
    return buf.getvalue()


def _wheel(name: str, version: str, files: dict[str, str]) -> tuple[str, bytes]:
    """A minimal valid pure-Python wheel, enough for `pip install --require-hashes`."""
    dist = f"{name}-{version}.dist-info"
    files = {**files,
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: ppm-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    return f"{name}-{version}-py3-none-any.whl", _zip({p: (t, 0o644) for p, t in files.items()})


def zig_pin(reg: FakeRegistry, script: str = FAKE_ZIG, served: bytes | None = None) -> Pin:
    """A pin shaped like the ziglang wheel's; `served` replaces the bytes the registry sends."""
    data = _zip({"ziglang/zig": (script, 0o755), "ziglang/lib/std.zig": ("// std\n", 0o644),
                 "ziglang-0.17.1.dist-info/METADATA": ("Name: ziglang\n", 0o644)})
    path = "packages/ab/cd/ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.whl"
    reg.files[f"/pypi/{path}"] = served if served is not None else data
    return Pin("zig", "0.17.1", "pypi", "ziglang", "zip", (Artifact(path, _sha256(data), len(data)),), "ziglang/zig")


def esbuild_pin(reg: FakeRegistry) -> Pin:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, text, mode in [("package/package.json", '{"name": "@esbuild/linux-x64"}', 0o644),
                                 ("package/bin/esbuild", FAKE_ESBUILD, 0o755)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text), mode
            t.addfile(info, io.BytesIO(text.encode()))
    data = buf.getvalue()
    sri = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    path = "@esbuild/linux-x64/-/linux-x64-0.28.2.tgz"
    reg.files[f"/npm/{path}"] = data
    return Pin("esbuild", "0.28.2", "npm", "@esbuild/linux-x64", "tgz", (Artifact(path, sri, len(data)),), "package/bin/esbuild")


def pyinstaller_pin(reg: FakeRegistry) -> Pin:
    main = "import sys\nif '--version' in sys.argv:\n    import altgraph\n    print(altgraph.VERSION)\n"
    arts = []
    for name, version, files in [
        ("pyinstaller", "6.22.3", {"PyInstaller/__init__.py": "", "PyInstaller/__main__.py": main}),
        ("altgraph", "0.17.5", {"altgraph/__init__.py": "VERSION = '6.22.3'\n"}),
    ]:
        filename, data = _wheel(name, version, files)
        reg.files[f"/pypi/packages/{filename}"] = data
        arts.append(Artifact(f"packages/{filename}", _sha256(data), len(data)))
    return Pin("pyinstaller", "6.22.3", "pypi", "pyinstaller", "pip", tuple(arts))


def toolchains_dir() -> Path:
    return toolchains.cache_dir() / "toolchains"


def leftovers() -> list[str]:
    d = toolchains_dir()
    return sorted(p.name for p in d.iterdir() if p.name.startswith(".tmp-")) if d.exists() else []


# -- provisioning --------------------------------------------------------------------------------


def test_provisions_zig_from_pypi_and_reuses_it(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    lines: list[str] = []
    tc = resolve(["zig"], pins={"zig": pin}, report=lines.append)["zig"]
    assert tc.usable and tc.version == "0.17.1" and tc.env == {}
    assert Path(tc.argv[0]) == toolchains_dir() / "zig-0.17.1" / "ziglang" / "zig"
    assert subprocess.run(tc.argv, capture_output=True, text=True).stdout.strip() == "0.17.1-fake"
    assert (toolchains_dir() / "zig-0.17.1" / "ziglang" / "lib" / "std.zig").is_file()
    assert any(re.match(r"provisioning zig 0\.17\.1 from PyPI \(\d+ kB\)", ln) for ln in lines), lines
    assert "ziglang==0.17.1" in tc.source and "PyPI" in tc.source
    assert re.fullmatch(r"[0-9a-f]{64}", tc.identity)
    # Warm: no download, same identity, nothing reported.
    lines.clear()
    again = resolve(["zig"], pins={"zig": pin}, report=lines.append)["zig"]
    assert again == tc and lines == []
    assert sum(registry.hits.values()) == 1
    assert leftovers() == []


def test_identity_has_no_paths_and_follows_the_pin(registry: FakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = zig_pin(registry)
    a = resolve(["zig"], pins={"zig": pin})["zig"]
    monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "elsewhere"))
    b = resolve(["zig"], pins={"zig": pin})["zig"]
    assert a.argv != b.argv and a.identity == b.identity  # two machines agree
    other = zig_pin(registry, script="#!/bin/sh\necho other\n")
    c = resolve(["zig"], pins={"zig": other})["zig"]  # same version, another build: reinstalled
    assert c.identity != b.identity and c.argv == b.argv
    assert subprocess.run(c.argv, capture_output=True, text=True).stdout.strip() == "other"


def test_provisions_esbuild_from_npm_with_sri(registry: FakeRegistry) -> None:
    pin = esbuild_pin(registry)
    tc = resolve(["esbuild"], pins={"esbuild": pin})["esbuild"]
    assert tc.usable and tc.version == "0.28.2"
    assert tc.argv == [str(toolchains_dir() / "esbuild-0.28.2" / "package" / "bin" / "esbuild")]
    assert subprocess.run(tc.argv, capture_output=True, text=True).stdout.strip() == "0.28.2-fake"
    assert "npm @esbuild/linux-x64@0.28.2" in tc.source


def test_provisions_pyinstaller_with_pip(registry: FakeRegistry) -> None:
    pin = pyinstaller_pin(registry)
    tc = resolve(["pyinstaller"], pins={"pyinstaller": pin})["pyinstaller"]
    install = toolchains_dir() / "pyinstaller-6.22.3"
    assert tc.usable and tc.argv == [sys.executable, "-m", "PyInstaller"]
    assert tc.env == {"PYTHONPATH": str(install)}
    out = subprocess.run([*tc.argv, "--version"], env={**os.environ, **tc.env}, capture_output=True, text=True)
    assert out.stdout.strip() == "6.22.3", out.stderr
    assert (install / "altgraph" / "__init__.py").is_file()
    assert sys.implementation.name in tc.source
    assert registry.hits == {f"/pypi/{a.path}": 1 for a in pin.artifacts}


def test_wheels_unpack_without_pip(tmp_path: Path) -> None:
    # The fallback for interpreters without pip (uv-made venvs).
    name, data = _wheel("altgraph", "0.17.5", {"altgraph/__init__.py": "X = 1\n"})
    (tmp_path / name).write_bytes(data)
    provisioning._unpack_wheels([tmp_path / name], tmp_path / "tree")
    assert (tmp_path / "tree" / "altgraph" / "__init__.py").read_text() == "X = 1\n"


def test_tampered_download_is_refused_and_nothing_installed(registry: FakeRegistry) -> None:
    pin = zig_pin(registry, served=_zip({"ziglang/zig": ("#!/bin/sh\necho evil\n", 0o755)}))
    with pytest.raises(ToolchainError) as e:
        resolve(["zig"], pins={"zig": pin})
    msg = str(e.value)
    assert "ziglang" in msg and "PyPI" in msg and "does not match" in msg and pin.artifacts[0].hash in msg
    assert not (toolchains_dir() / "zig-0.17.1").exists()
    assert leftovers() == []
    assert not any(p.suffix == ".whl" for p in toolchains_dir().rglob("*"))


def test_bad_npm_integrity_is_refused(registry: FakeRegistry) -> None:
    pin = esbuild_pin(registry)
    path = f"/npm/{pin.artifacts[0].path}"
    data = registry.files[path]
    registry.files[path] = data[:20] + bytes([data[20] ^ 1]) + data[21:]
    with pytest.raises(ToolchainError, match=r"@esbuild/linux-x64 0\.28\.2 from npm"):
        resolve(["esbuild"], pins={"esbuild": pin})
    assert not (toolchains_dir() / "esbuild-0.28.2").exists()


def test_retries_server_errors(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    path = f"/pypi/{pin.artifacts[0].path}"
    registry.fail[path] = 2
    assert resolve(["zig"], pins={"zig": pin})["zig"].usable
    assert registry.hits[path] == 3


def test_gives_up_after_three_tries(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    path = f"/pypi/{pin.artifacts[0].path}"
    registry.fail[path] = 99
    with pytest.raises(ToolchainError, match=r"could not download ziglang 0\.17\.1 from PyPI .*HTTP 503") as e:
        resolve(["zig"], pins={"zig": pin})
    assert registry.hits[path] == 3
    assert "PPM_PYPI_URL" in str(e.value)
    assert not (toolchains_dir() / "zig-0.17.1").exists() and leftovers() == []


def test_missing_file_fails_at_once(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    registry.files.clear()
    with pytest.raises(ToolchainError, match="HTTP 404"):
        resolve(["zig"], pins={"zig": pin})
    assert sum(registry.hits.values()) == 1


_PROVISION_SCRIPT = """
import json, sys
from ppm.toolchains import Pin, resolve
pin = Pin.from_json(json.loads(sys.argv[1]))
print(json.dumps(resolve([pin.name], pins={pin.name: pin})[pin.name].argv), flush=True)
"""


def _spawn(pin: Pin) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _PROVISION_SCRIPT, json.dumps(pin.to_json())],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_provision_once(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    path = f"/pypi/{pin.artifacts[0].path}"
    registry.delay[path] = 1.0  # both processes are inside provisioning at the same time
    procs = [_spawn(pin), _spawn(pin)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    argvs = [json.loads(o[0]) for o in outs]
    assert argvs[0] == argvs[1]
    assert registry.hits[path] == 1  # the second waited on the lock, then found it installed
    assert subprocess.run(argvs[0], capture_output=True, text=True).stdout.strip() == "0.17.1-fake"
    assert leftovers() == []


def test_killed_download_leaves_no_install(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    path = f"/pypi/{pin.artifacts[0].path}"
    registry.stall.add(path)
    proc = _spawn(pin)
    deadline = time.monotonic() + 30
    while registry.hits.get(path, 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not (toolchains_dir() / "zig-0.17.1").exists()
    assert leftovers()  # the dead run's half download, in its temp dir
    assert resolve(["zig"], pins={"zig": pin}, provision=False)["zig"].usable is False
    # The next run sweeps the dead run's temp dir and installs.
    registry.stall.clear()
    assert resolve(["zig"], pins={"zig": pin})["zig"].usable
    assert leftovers() == []


def test_without_provisioning_notes_the_download(registry: FakeRegistry) -> None:
    pin = zig_pin(registry)
    tc = resolve(["zig"], pins={"zig": pin}, provision=False)["zig"]
    assert not tc.usable and tc.argv == [] and "ziglang 0.17.1 from PyPI" in tc.note and "first build" in tc.note
    assert toolchains.provisionable("zig", pins={"zig": pin})
    assert registry.hits == {}


def test_offline_never_downloads(registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = zig_pin(registry)
    monkeypatch.setenv("PPM_OFFLINE", "1")
    tc = resolve(["zig"], pins={"zig": pin})["zig"]
    assert not tc.usable and "PPM_OFFLINE" in tc.note and "ziglang" in tc.note
    assert not toolchains.provisionable("zig", pins={"zig": pin})
    with pytest.raises(ToolchainError, match="PPM_OFFLINE"):
        toolchains.provision(pin)
    assert registry.hits == {}
    # Once installed, offline is fine.
    monkeypatch.delenv("PPM_OFFLINE")
    resolve(["zig"], pins={"zig": pin})
    monkeypatch.setenv("PPM_OFFLINE", "1")
    assert resolve(["zig"], pins={"zig": pin})["zig"].usable


def test_pins_cover_the_common_platforms() -> None:
    for name in toolchains.PROVISIONED:
        for plat in ("linux-x86_64", "linux-aarch64", "macos-arm64"):
            pin = toolchains.pin_for(name, plat)
            assert pin is not None and pin.name == name
            assert all(a.hash.startswith(("sha256:", "sha512-")) for a in pin.artifacts)
    assert toolchains.pin_for("zig", "linux-x86_64").version == "0.17.1"
    assert toolchains.pin_for("esbuild", "linux-x86_64").package == "@esbuild/linux-x64"
    assert toolchains.pin_for("pyinstaller", "linux-x86_64").version == "6.22.3"


# -- toolchains found on the machine -------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError(f"spawned a process: {a}")
    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.mark.skipif(not shutil.which("gcc") and not shutil.which("cc"), reason="no C compiler")
def test_probes_real_cc_and_caches_the_probe(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC", raising=False)
    tc = resolve(["cc"])["cc"]
    assert tc.usable and re.fullmatch(r"\d+\.\d+(\.\d+)?", tc.version) and os.path.isabs(tc.argv[0])
    assert tc.source.startswith("found on PATH: ")
    assert (cache / "toolchains" / "probes.json").is_file()
    _no_processes(monkeypatch)
    assert resolve(["cc"])["cc"] == tc


@pytest.mark.skipif(not shutil.which("cargo"), reason="no cargo")
def test_probes_real_cargo(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tc = resolve(["cargo"])["cargo"]
    assert tc.usable and re.fullmatch(r"\d+\.\d+\.\d+", tc.version)
    assert "cargo " in tc.source and tc.argv == [shutil.which("cargo")]
    _no_processes(monkeypatch)
    assert resolve(["cargo"])["cargo"] == tc


def test_cc_from_env_reprobes_when_the_binary_changes(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cc = _script(tmp_path / "bin" / "fakecc", "#!/bin/sh\necho 'fakecc version 1.2.3'\n")
    monkeypatch.setenv("CC", f"{cc} -m64")
    tc = resolve(["cc"])["cc"]
    assert tc.usable and tc.version == "1.2.3" and tc.argv == [str(cc), "-m64"] and "$CC" in tc.source
    _script(cc, "#!/bin/sh\necho 'fakecc version 1.2.40'\n")
    tc2 = resolve(["cc"])["cc"]
    assert tc2.version == "1.2.40" and tc2.identity != tc.identity
    # The same binary elsewhere has the same identity: no paths in it.
    shutil.copy(cc, tmp_path / "fakecc2")
    monkeypatch.setenv("CC", f"{tmp_path / 'fakecc2'} -m64")
    assert resolve(["cc"])["cc"].identity == tc2.identity


def test_cc_env_naming_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "/nonexistent/cc")
    tc = resolve(["cc"])["cc"]
    assert not tc.usable and "CC=" in tc.note and "C compiler" in tc.note


def test_failing_version_probe_is_unusable(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", str(_script(tmp_path / "badcc", "#!/bin/sh\necho broken >&2\nexit 3\n")))
    tc = resolve(["cc"])["cc"]
    assert not tc.usable and "exited 3" in tc.note and "broken" in tc.note


def test_native_image_missing_and_found(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("GRAALVM_HOME", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    tc = resolve(["native-image"])["native-image"]
    assert not tc.usable and "GRAALVM_HOME" in tc.note and tc.identity == ""
    graal = tmp_path / "graalvm"
    _script(graal / "bin" / "native-image", "#!/bin/sh\necho 'native-image 21.0.2 2024-01-16'\necho 'GraalVM Runtime'\n")
    monkeypatch.setenv("GRAALVM_HOME", str(graal))
    tc = resolve(["native-image"])["native-image"]
    assert tc.usable and tc.version == "21.0.2" and "$GRAALVM_HOME" in tc.source


def test_javac_from_java_home(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jdk = tmp_path / "jdk"
    _script(jdk / "bin" / "javac", "#!/bin/sh\necho 'javac 21.0.5' >&2\n")  # javac 8 writes to stderr
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    tc = resolve(["javac"])["javac"]
    assert tc.usable and tc.version == "21.0.5" and tc.argv == [str(jdk / "bin" / "javac")]


def test_unknown_toolchain(cache: Path) -> None:
    with pytest.raises(ToolchainError, match="unknown toolchain 'gcc-arm'"):
        resolve(["gcc-arm"])


def test_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "c"))
    assert toolchains.cache_dir() == tmp_path / "c"


# -- the CLI ------------------------------------------------------------------------------------


def _app():
    import typer

    from ppm.cli import doctor, toolchain

    app = typer.Typer()
    toolchain.register(app)
    doctor.register(app)
    return app


def test_cli_toolchain_list_json(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    monkeypatch.setenv("PPM_OFFLINE", "1")
    r = CliRunner().invoke(_app(), ["toolchain", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["name"] for row in rows] == list(toolchains.KNOWN)
    assert set(rows[0]) == {f.name for f in dataclasses.fields(toolchains.Toolchain)}
    zig = next(row for row in rows if row["name"] == "zig")
    assert zig["usable"] is False and "PPM_OFFLINE" in zig["note"]


def test_cli_table_and_doctor(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    r = CliRunner().invoke(_app(), ["toolchain", "list"])
    assert r.exit_code == 0 and "native-image" in r.output and "toolchain" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PPM_OFFLINE", "1")
    monkeypatch.delenv("CC", raising=False)
    r = CliRunner().invoke(_app(), ["doctor"])
    assert r.exit_code == 1 and "cargo" in r.output


# -- the real registries ----------------------------------------------------------------------


@pytest.mark.live
def test_live_provisions_real_toolchains(monkeypatch: pytest.MonkeyPatch) -> None:
    # Uses the real cache (or $PPM_CACHE_DIR) so a second run is instant.
    monkeypatch.delenv("PPM_OFFLINE", raising=False)
    monkeypatch.delenv("PPM_PYPI_URL", raising=False)
    monkeypatch.delenv("PPM_NPM_REGISTRY", raising=False)
    tcs = resolve(["zig", "esbuild", "pyinstaller"], report=print)
    run = lambda tc, *args: subprocess.run([*tc.argv, *args], env={**os.environ, **tc.env},  # noqa: E731
                                          capture_output=True, text=True, timeout=120).stdout.strip()
    assert run(tcs["zig"], "version") == "0.17.1"
    assert run(tcs["esbuild"], "--version") == "0.28.2"
    assert run(tcs["pyinstaller"], "--version") == "6.22.3"
