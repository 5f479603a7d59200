"""The template end to end with the real toolchains: cargo, cc, zig (ziglang wheel), esbuild
(npm package), PyInstaller, and GraalVM native-image where it exists. Runs offline: the
README's test command provisions the toolchains before the tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from helpers import run_ppm
from ppm import toolchains
from ppm.core.paths import toolchains_dir
from ppm.lockfile import model
from registry_server import FIXTURES, RegistryServer


def _missing_toolchains() -> list[str]:
    from ppm import toolchains

    tcs = toolchains.resolve(["cargo", "cc", "zig", "esbuild", "pyinstaller"], provision=False)
    return [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    missing = _missing_toolchains()
    if missing:
        pytest.skip("toolchains not provisioned (run `ppm toolchain list --provision` first): " + "; ".join(missing))
    from ppm.core.paths import toolchains_dir

    base = tmp_path_factory.mktemp("template")
    env = {"PPM_CACHE_DIR": str(base / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1"}
    run_ppm("init", "demo", cwd=base, env=env)
    return base / "demo", env


@pytest.fixture(scope="module")
def first_build(demo: tuple[Path, dict[str, str]]) -> dict:
    root, env = demo
    p = run_ppm("build", "--json", cwd=root, env=env)
    return json.loads(p.stdout)


def _statuses(s: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in s["actions"]}


def _native_image() -> bool:
    from ppm import toolchains

    return toolchains.resolve(["native-image"], provision=False)["native-image"].usable


def test_bundle_runs_without_toolchains(demo, first_build) -> None:  # type: ignore[no-untyped-def]
    root, _ = demo
    bundle = root / "dist" / "linux-x86_64" / "demo"
    assert first_build["bundles"]["linux-x86_64"]["path"] == str(bundle)
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == first_build["bundles"]["linux-x86_64"]["sha256"]
    # Only the bundle: a copy in an empty directory, no environment, no toolchain on PATH.
    alone = root.parent / "alone"
    alone.mkdir(exist_ok=True)
    shutil.copy2(bundle, alone / "demo")
    p = subprocess.run(["env", "-i", str(alone / "demo")], cwd=alone, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "rust: fibonacci(20) = 6765 (core-rs 0.1.0)" in lines
    assert "c: gcd(1071, 462) = 21, primes up to 100 = 25" in lines
    assert "zig: sum_of_squares(10) = 385" in lines
    assert any(line.startswith("typescript: ui bundle ") for line in lines)
    assert any(line.startswith("python: 3.") for line in lines)
    if _native_image():
        assert "java: collatz_steps(27) = 111" in lines
    else:
        assert "java: skipped (native-image was not available when this bundle was built)" in lines
    assert subprocess.run(["env", "-i", str(alone / "demo"), "--self-check"], cwd=alone).returncode == 0


def test_each_output_is_inside(demo, first_build) -> None:  # type: ignore[no-untyped-def]
    root, _ = demo
    outputs = {rel: o for a in first_build["actions"] for rel, o in a["outputs"].items()}
    ui = root.parent / "ui-out.js"
    subprocess.run(["env", "-i", str(root / "dist/linux-x86_64/demo"), "ui", "--out", str(ui)], check=True, timeout=120)
    assert hashlib.sha256(ui.read_bytes()).hexdigest() == outputs["ui.js"]["sha256"]
    # The native libraries' own bytes are in the one file (PyInstaller stores them zlib-compressed
    # in its archive, so extract it with PyInstaller's own reader and compare digests).
    from ppm import toolchains

    pyi = toolchains.resolve(["pyinstaller"], provision=False)["pyinstaller"]
    env = {**os.environ, **pyi.env}
    listing = subprocess.run([pyi.argv[0], "-m", "PyInstaller.utils.cliutils.archive_viewer", "--list", "--brief",
                              str(root / "dist/linux-x86_64/demo")], capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for name in ("ppm_deps/core/libcore_rs.so", "ppm_deps/cmath/libcmath.so", "ppm_deps/zigz/libzigz.so", "ppm_deps/ui/ui.js"):
        assert name in listing.stdout, f"{name} is not in the bundle"


def test_java_component(demo, first_build) -> None:  # type: ignore[no-untyped-def]
    if not _native_image():
        print("GraalVM native-image is not on this machine (not on PyPI, npm or Debian): "
              "the greeter component is skipped, and the build says so")
        assert "greeter" in first_build["skipped_components"]
        pytest.skip("GraalVM native-image not installed: the Java component could not be built here")
    assert _statuses(first_build)["greeter:native-image"] == "ran"


def test_second_build_is_a_noop(demo, first_build) -> None:  # type: ignore[no-untyped-def]
    root, env = demo
    t = time.perf_counter()
    p = run_ppm("build", cwd=root, env=env)
    assert "nothing to do" in p.stderr
    assert time.perf_counter() - t < 5
    s = json.loads(run_ppm("build", "--json", "--explain", cwd=root, env=env).stdout)
    assert s["actions_executed"] == 0 and s["actions_cached"] == 0


def test_editing_c_reruns_c_and_the_host_only(demo, first_build) -> None:  # type: ignore[no-untyped-def]
    root, env = demo
    time.sleep(0.06)
    with open(root / "cmath/src/gcd.c", "a") as f:
        f.write("\nunsigned long long cmath_twice(unsigned long long x) { return 2 * x; }\n")
    p = run_ppm("build", "--json", "--explain", cwd=root, env=env)
    st = _statuses(json.loads(p.stdout))
    ran = sorted(k for k, v in st.items() if v == "ran")
    assert ran == ["app:bundle", "cmath:compile-src/gcd.c", "cmath:link"], st
    assert "input cmath/src/gcd.c changed" in p.stderr
    assert "dependency cmath's output changed" in p.stderr
    out = subprocess.run(["env", "-i", str(root / "dist/linux-x86_64/demo")], capture_output=True, text=True, timeout=120)
    assert "c: gcd(1071, 462) = 21, primes up to 100 = 25" in out.stdout


def test_graph_of_the_template(demo) -> None:  # type: ignore[no-untyped-def]
    root, env = demo
    g = json.loads(run_ppm("graph", "--json", cwd=root, env=env).stdout)
    edges = {(e["from"], e["to"]) for e in g["edges"]}
    assert {("app", "core"), ("app", "cmath"), ("app", "zigz"), ("app", "ui")} <= edges


def test_desktop_ui_bundles_react_from_the_lock(tmp_path: Path) -> None:
    """The desktop template's UI depends on react and react-dom from npm: `ppm lock` pins them
    (and scheduler) from a registry speaking npm's protocol on 127.0.0.1 (the fixtures: the real
    packages trimmed to their production builds), `ppm build ui` installs the verified tarballs
    into ui/node_modules and esbuild bundles React for the browser."""
    if not toolchains.resolve(["esbuild"], provision=False)["esbuild"].usable:
        pytest.skip("esbuild is not provisioned (`ppm toolchain list --provision`)")
    with RegistryServer() as srv:
        env = {"PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "0",
               **srv.env()}
        init = run_ppm("init", "dt", "--template", "desktop", cwd=tmp_path, env=env)
        root = tmp_path / "dt"
        assert "ppm lock && ppm build" in init.stderr  # the template declares npm dependencies: lock first
        p = run_ppm("build", "ui", cwd=root, env=env, check=False)
        assert p.returncode != 0 and "run `ppm lock`" in p.stderr, p.stderr
        run_ppm("lock", cwd=root, env=env)
        lock = model.read(root / "ppm.lock")
        want = {"react": "19.3.1", "react-dom": "19.3.1", "scheduler": "0.28.0"}
        assert {p.name: p.version for p in lock.by_ecosystem("npm")} == want
        for name, version in want.items():
            doc = json.loads((FIXTURES / f"npm/{name}.json").read_text())
            (art,) = lock.packages[f"npm:{name}@{version}"].artifacts
            assert art.hash == doc["versions"][version]["dist"]["integrity"]
        s = json.loads(run_ppm("build", "ui", "--json", cwd=root, env=env).stdout)
    assert sorted((root / "ui/node_modules").iterdir()) == [root / "ui/node_modules" / n for n in sorted(want)]
    (ui,) = [a for a in s["actions"] if a["id"] == "ui:bundle"]
    assert {"ui.js", "ui.css", "index.html"} <= set(ui["outputs"])
    (bundle,) = (root / ".ppm/out").rglob("ui.js")
    js = bundle.read_text()
    assert hashlib.sha256(js.encode()).hexdigest() == ui["outputs"]["ui.js"]["sha256"]
    # React's production build (its minified errors point at react.dev) with react-dom's client,
    # and the template's App
    assert "react.dev/errors/" in js and "clicked " in js and len(js) > 100_000
