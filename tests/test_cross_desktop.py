"""The desktop template (a Go host linking a Rust and a C static library through cgo and
embedding a TypeScript UI) built for linux-x86_64, linux-aarch64 and windows-x86_64 from this
machine with the real toolchains, then run: natively, under qemu-aarch64 and under Wine.

Slow: Rust's std is built from source for each foreign target (about 40 s each on 2 cores)
and zig builds mingw's C runtime once (about 1 min); the whole module takes 4-6 minutes."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import foreign
import pytest

from helpers import run_ppm
from registry_server import RegistryServer

pytestmark = pytest.mark.slow

TARGETS = ["host", "linux-aarch64", "windows-x86_64"]
TARGET_ARGS = [w for t in TARGETS for w in ("--target", t)]
LINES = (
    "rust: fibonacci(20) = 6765 (core-rs 0.1.0)",
    "c: gcd(1071, 462) = 21, primes up to 100 = 25",
)


def _missing() -> list[str]:
    from ppm import toolchains

    tcs = toolchains.resolve(["go", "cargo", "cargo-build-std", "mingw", "zig", "cc", "esbuild"], provision=False)
    return [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], dict, float]]:
    missing = _missing()
    if missing:
        pytest.skip("cross toolchains missing (.ci/needs-cross.sh installs them): " + "; ".join(missing))
    from ppm.core.paths import toolchains_dir

    base = tmp_path_factory.mktemp("desktop")
    # React comes from npm: the fixtures' react, react-dom and scheduler, served on 127.0.0.1
    with RegistryServer() as srv:
        env = {"PPM_CACHE_DIR": str(base / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "0",
               **srv.env()}
        run_ppm("init", "dt", "--template", "desktop", cwd=base, env=env)
        root = base / "dt"
        run_ppm("lock", cwd=root, env=env)
        t = time.perf_counter()
        p = run_ppm("build", "--json", *TARGET_ARGS, cwd=root, env=env, timeout=1800)
        seconds = time.perf_counter() - t
        print(f"cold build of the desktop template for {', '.join(TARGETS)}: {seconds:.0f} s")
        yield root, env, json.loads(p.stdout), seconds


def _lines(stdout: str, goos: str, goarch: str) -> None:
    lines = stdout.splitlines()
    assert any(line.startswith("go: go1.") and line.endswith(f" {goos}/{goarch}") for line in lines), stdout
    for want in LINES:
        assert want in lines, stdout
    assert any(line.startswith("typescript: ui bundle ") and "(index.html, ui.js, ui.css)" in line for line in lines), stdout


def test_one_file_per_target(desktop) -> None:  # type: ignore[no-untyped-def]
    root, _, summary, _ = desktop
    assert set(summary["bundles"]) == {"linux-x86_64", "linux-aarch64", "windows-x86_64"}
    assert summary["bundles"]["linux-aarch64"]["path"] == str(root / "dist/linux-aarch64/dt")
    assert summary["bundles"]["windows-x86_64"]["path"] == str(root / "dist/windows-x86_64/dt.exe")
    assert sorted(p.name for p in (root / "dist").iterdir()) == ["linux-aarch64", "linux-x86_64", "windows-x86_64"]
    for d in (root / "dist").iterdir():
        assert len(list(d.iterdir())) == 1, f"{d} holds more than the bundle"
    # The C component was compiled by zig for the foreign targets at the glibc floor.
    assert any(a["id"] == "linux-aarch64/cmath:link" for a in summary["actions"])


def test_host_bundle_runs_alone(desktop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, _, _ = desktop
    shutil.copy2(root / "dist/linux-x86_64/dt", tmp_path / "dt")
    p = subprocess.run(["env", "-i", str(tmp_path / "dt")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    _lines(p.stdout, "linux", "amd64")
    assert subprocess.run(["env", "-i", str(tmp_path / "dt"), "--self-check"], capture_output=True, timeout=60).returncode == 0
    # The embedded UI comes back out byte for byte: index.html, the bundle and its CSS.
    out = tmp_path / "ui"
    subprocess.run([str(tmp_path / "dt"), "ui", "--out", str(out)], check=True, capture_output=True, timeout=60)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "ui.css", "ui.js"]
    assert '<script src="ui.js">' in (out / "index.html").read_text()
    assert ".app" in (out / "ui.css").read_text()
    js = (out / "ui.js").read_text()
    assert "react.dev/errors/" in js and "clicked " in js  # React (from the lock) and the template's App


def test_aarch64_bundle_runs_under_qemu(desktop) -> None:  # type: ignore[no-untyped-def]
    why = foreign.qemu_missing()
    if why:
        pytest.skip(why)
    root, _, _, _ = desktop
    exe = root / "dist/linux-aarch64/dt"
    assert exe.read_bytes()[:4] == b"\x7fELF" and exe.read_bytes()[18] == 0xB7  # e_machine = EM_AARCH64
    p = foreign.run_aarch64(exe)
    assert p.returncode == 0, p.stdout + p.stderr
    _lines(p.stdout, "linux", "arm64")
    assert foreign.run_aarch64(exe, "--self-check").returncode == 0


def test_windows_bundle_runs_under_wine(desktop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    why = foreign.wine_missing()
    if why:
        pytest.skip(why)
    root, _, _, _ = desktop
    exe = root / "dist/windows-x86_64/dt.exe"
    assert exe.read_bytes()[:2] == b"MZ"
    prefix = foreign.wine_prefix(tmp_path)
    p = foreign.run_windows(prefix, exe)
    assert p.returncode == 0, p.stdout + p.stderr
    _lines(p.stdout, "windows", "amd64")
    assert foreign.run_windows(prefix, exe, "--self-check").returncode == 0


def test_second_build_is_a_noop_on_every_target(desktop) -> None:  # type: ignore[no-untyped-def]
    root, env, _, _ = desktop
    s = json.loads(run_ppm("build", "--json", *TARGET_ARGS, cwd=root, env=env).stdout)
    assert s["actions_executed"] == 0 and s["actions_cached"] == 0, [a for a in s["actions"] if a["status"] != "up-to-date"]
    assert s["actions_up_to_date"] == s["actions_planned"]


def test_editing_go_reruns_only_the_go_builds(desktop) -> None:  # type: ignore[no-untyped-def]
    root, env, _, _ = desktop
    time.sleep(0.06)
    main = root / "app/main.go"
    main.write_text(main.read_text().replace("one executable, four languages", "one file, four languages"))
    p = run_ppm("build", "--json", *TARGET_ARGS, cwd=root, env=env)
    s = json.loads(p.stdout)
    ran = sorted(a["id"] for a in s["actions"] if a["status"] == "ran")
    assert ran == ["linux-aarch64/app:build", "linux-x86_64/app:build", "windows-x86_64/app:build"], ran
    out = subprocess.run([str(root / "dist/linux-x86_64/dt")], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("dt: one file, four languages")


def test_go_tests_run_through_ppm_test_and_are_cached(desktop) -> None:  # type: ignore[no-untyped-def]
    """`ppm test` runs the Go host's tests with `go test`, linked against the Rust and C
    libraries through cgo as the build is; a second run with nothing changed reruns none."""
    root, env, _, _ = desktop
    first = json.loads(run_ppm("test", "app", "--json", cwd=root, env=env, timeout=900).stdout)
    app = [s for s in first["suites"] if s["component"] == "app"]
    assert app and app[0]["status"] == "passed", first
    names = {c["name"] for c in app[0]["cases"]}
    assert {"TestEveryComponentAnswers", "TestRustFibonacci"} <= names, names
    second = json.loads(run_ppm("test", "app", "--json", cwd=root, env=env, timeout=900).stdout)
    assert second["ran"] == 0 and second["cached"] == first["ran"] + first["cached"], second
