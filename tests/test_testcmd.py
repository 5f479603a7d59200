"""`ppm test` on the template with the real runners: cargo test, zig test, a C test program,
esbuild + node --test, pytest. One project for the module: a first run, a cached second run,
then a failing test in every language at once, then the fix. About 60-90 s on 2 busy cores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.slow

SCHEMA = Path(__file__).parent / "fixtures" / "junit" / "junit.xsd"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    from ppm import toolchains
    from ppm.core.paths import toolchains_dir

    tcs = toolchains.resolve(["cargo", "cc", "zig", "esbuild", "pyinstaller"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("toolchains not provisioned (run `ppm toolchain list --provision` first): " + "; ".join(missing))
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the TypeScript tests run with `node --test`")
    base = tmp_path_factory.mktemp("testcmd")
    env = {"PPM_CACHE_DIR": str(base / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1",
           "PPM_CONFIG": str(base / "no-config.toml")}
    run_ppm("init", "demo", cwd=base, env=env)
    return base / "demo", env


def _validate(path: Path) -> None:
    import xmlschema

    xmlschema.XMLSchema(str(SCHEMA)).validate(str(path))


def test_every_language_then_cached(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = demo
    junit = tmp_path / "report.xml"
    p = run_ppm("test", "--json", "--junit", str(junit), cwd=root, env=env)
    first = json.loads(p.stdout)
    comps = {s["component"]: s for s in first["suites"]}
    assert set(comps) == {"core", "cmath", "zigz", "ui", "app"}, first
    assert first["failed"] == 0 and first["passed"] == 5 and first["ran"] == 5, first
    names = {c["name"] for s in first["suites"] for c in s["cases"]}
    assert "tests::fibonacci" in names  # cargo's own test name
    assert "greeting names every language" in names  # node:test
    assert "tests/test_main.py::test_rust_and_c_through_ctypes" in names  # pytest
    assert "sum of squares" in names  # zig
    assert first["no_tests"] == ["greeter"]
    _validate(junit)
    import xml.etree.ElementTree as ET

    suites = ET.parse(junit).getroot().findall("testsuite")
    assert sorted(s.get("name") for s in suites) == ["app", "cmath", "core", "ui", "zigz"]
    # Nothing changed: every test action answered from the cache, none reran.
    second = json.loads(run_ppm("test", "--json", cwd=root, env=env).stdout)
    assert second["ran"] == 0 and second["cached"] == 5 and second["failed"] == 0, second
    # The bundle was not built for the tests (pytest runs the host from its sources).
    assert not (root / "dist").exists()


def test_failures_in_every_language_are_named(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = demo
    edits = {
        root / "core/src/lib.rs": ("assert_eq!(core_fibonacci(20), 6765);", "assert_eq!(core_fibonacci(20), 6766);"),
        root / "zigz/src/main.zig": ("expectEqual(@as(u64, 385)", "expectEqual(@as(u64, 386)"),
        root / "cmath/tests/test_cmath.c": ("cmath_gcd(7, 0) == 7,", "cmath_gcd(7, 0) == 8,"),
        root / "ui/src/greeting.test.ts": ("/0 languages/", "/zero languages/"),
        root / "app/tests/test_main.py": ('startswith("fibonacci(20) = 6765")', 'startswith("fibonacci(20) = 6")\n    assert False, "broken on purpose"'),
    }
    saved = {p: p.read_text() for p in edits}
    try:
        for p, (old, new) in edits.items():
            assert old in saved[p], p
            p.write_text(saved[p].replace(old, new))
        junit = tmp_path / "failed.xml"
        p = run_ppm("test", "--junit", str(junit), cwd=root, env=env, check=False)
        assert p.returncode == 1, p.stdout + p.stderr
        out = p.stdout
        for name in ("tests::fibonacci", "sum of squares", "tests/test_cmath.c", "greeting with no languages",
                     "tests/test_main.py::test_rust_and_c_through_ctypes"):
            assert f"failed: {name}" in out, (name, out)
        assert "FAIL: cmath_gcd(7, 0) == 7" in out  # the C program's own message
        _validate(junit)
        # A failing run is never cached: the same failure runs again (cargo's, here, re-run).
        again = json.loads(run_ppm("test", "core", "--json", cwd=root, env=env, check=False).stdout)
        assert again["failed"] == 1 and again["ran"] == 1 and again["cached"] == 0, again
    finally:
        for path, text in saved.items():
            path.write_text(text)
    fixed = json.loads(run_ppm("test", "--json", cwd=root, env=env).stdout)
    assert fixed["failed"] == 0 and fixed["passed"] == 5, fixed


def test_unknown_component_is_a_clear_error(demo: tuple[Path, dict[str, str]]) -> None:
    root, env = demo
    p = run_ppm("test", "nosuch", cwd=root, env=env, check=False)
    assert p.returncode == 1
    assert "no component named 'nosuch'" in p.stderr and "core" in p.stderr
