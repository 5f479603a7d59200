"""The build engine on small C projects with the real C compiler: no-op, invalidation, early
cutoff, parallelism, corrupt cache, failing compiler, cycles, bad manifests, kills, concurrency."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))


@pytest.fixture
def proj(tmp_path: Path, ppm_cache: Path) -> Path:
    """Two C components, `app` (an executable) needing `mathx` (a shared library of two files)."""
    root = tmp_path / "proj"
    write(root / "ppm.toml", """\
        # a small C project
        [project]
        name = "proj"
        version = "0.1.0"
        entry = "app"

        [components.mathx]
        builder = "cc"
        path = "mathx"

        [components.app]
        builder = "cc"
        path = "app"
        kind = "executable"
        needs = ["mathx"]
        ldflags = ["-L{dep:mathx}", "-lmathx", "-Wl,-rpath,$ORIGIN"]
        """)
    write(root / "mathx/include/mathx.h", "int add(int a, int b);\nint mul(int a, int b);\n")
    write(root / "mathx/src/add.c", '#include "mathx.h"\nint add(int a, int b) { return a + b; }\n')
    write(root / "mathx/src/mul.c", '#include "mathx.h"\nint mul(int a, int b) { return a * b; }\n')
    write(root / "app/src/main.c", """\
        #include <stdio.h>
        int add(int, int); int mul(int, int);
        int main(void) { printf("%d %d\\n", add(2, 3), mul(4, 5)); return 0; }
        """)
    return root


def build_json(root: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    p = run_ppm("build", "--json", *args, cwd=root, env=env)
    return json.loads(p.stdout)


def statuses(summary: dict) -> dict[str, str]:
    return {a["id"]: a["status"] for a in summary["actions"]}


def test_build_then_noop(proj: Path) -> None:
    s = build_json(proj)
    assert s["actions_executed"] == 5 and s["actions_planned"] == 5
    bundle = Path(s["bundles"]["linux-x86_64"]["path"])
    assert bundle == proj / "dist" / "linux-x86_64" / "app"
    # the executable finds libmathx.so beside it ($ORIGIN) only because this test links dynamically
    lib = next(a["outputs"]["libmathx.so"] for a in s["actions"] if "libmathx.so" in a["outputs"])
    shutil.copy(lib["path"], bundle.parent / "libmathx.so")
    assert subprocess.run([str(bundle)], capture_output=True, text=True).stdout == "5 20\n"
    p = run_ppm("build", cwd=proj)
    assert "nothing to do" in p.stderr
    s2 = build_json(proj)
    assert s2["actions_executed"] == 0 and s2["actions_cached"] == 0


def test_noop_full_path_agrees(proj: Path) -> None:
    """With the fast path ruled out (an option it does not handle), the engine still finds nothing to do."""
    build_json(proj)
    p = run_ppm("build", "--explain", cwd=proj)
    assert "nothing to do: 5 actions up to date" in p.stderr


def test_edit_one_file_reruns_exactly_what_needs_it(proj: Path) -> None:
    build_json(proj)
    time.sleep(0.06)
    write(proj / "mathx/src/mul.c", '#include "mathx.h"\nint mul(int a, int b) { return a * b + 0 * a; }\nint unused(void) { return 7; }\n')
    s = build_json(proj)
    st = statuses(s)
    assert st["mathx:compile-src/mul.c"] == "ran"
    assert st["mathx:compile-src/add.c"] == "up-to-date"
    assert st["mathx:link"] == "ran"
    # app's actions need mathx's output, which changed
    assert st["app:link"] == "ran"
    reasons = {a["id"]: a["reason"] for a in s["actions"]}
    assert "input mathx/src/mul.c changed" in reasons["mathx:compile-src/mul.c"]
    assert "dependency mathx" in reasons["app:link"]


def test_comment_edit_stops_at_identical_object(proj: Path) -> None:
    build_json(proj)
    time.sleep(0.06)
    with open(proj / "mathx/src/add.c", "a") as f:
        f.write("/* only a comment */\n")
    st = statuses(build_json(proj))
    assert st["mathx:compile-src/add.c"] == "ran"
    assert st["mathx:link"] == "up-to-date"  # the object file came out identical
    assert st["app:link"] == "up-to-date"


def test_explain_names_the_changed_setting(proj: Path) -> None:
    build_json(proj)
    text = (proj / "ppm.toml").read_text().replace('path = "mathx"', 'path = "mathx"\ncflags = ["-O1"]')
    (proj / "ppm.toml").write_text(text)
    p = run_ppm("build", "--explain", cwd=proj)
    assert "setting cflags changed (['-O2'] -> ['-O1'])" in p.stderr


def test_new_source_file_is_noticed(proj: Path) -> None:
    build_json(proj)
    write(proj / "mathx/src/sub.c", "int sub(int a, int b) { return a - b; }\n")
    st = statuses(build_json(proj))
    assert st["mathx:compile-src/sub.c"] == "ran" and st["mathx:link"] == "ran"


def slow_cc(tmp_path: Path, seconds: float) -> dict[str, str]:
    """A C compiler that takes `seconds` longer: lets the tests see overlap and kill mid-action."""
    script = tmp_path / "slowcc"
    script.write_text(f"#!/bin/sh\nsleep {seconds}\nexec cc \"$@\"\n")
    script.chmod(0o755)
    return {"CC": str(script)}


def test_independent_actions_overlap(proj: Path, tmp_path: Path) -> None:
    s = build_json(proj, "-j2", env=slow_cc(tmp_path, 0.6))
    a = {x["id"]: x for x in s["actions"]}
    add, mul = a["mathx:compile-src/add.c"], a["mathx:compile-src/mul.c"]
    overlap = min(add["end"], mul["end"]) - max(add["start"], mul["start"])
    assert overlap > 0.3, f"the two compiles did not run at once: {add} {mul}"
    s1 = build_json(proj, "-j1", "--target", "host", env={**slow_cc(tmp_path, 0.6), "PPM_CACHE_DIR": str(tmp_path / "other-cache")})
    a = {x["id"]: x for x in s1["actions"]}
    add, mul = a["mathx:compile-src/add.c"], a["mathx:compile-src/mul.c"]
    assert min(add["end"], mul["end"]) <= max(add["start"], mul["start"]) + 0.01


def test_corrupt_cache_entry_is_dropped_and_rebuilt(proj: Path, ppm_cache: Path) -> None:
    s = build_json(proj)
    lib = next(a["outputs"]["libmathx.so"] for a in s["actions"] if "libmathx.so" in a["outputs"])
    blob = ppm_cache / "store" / "cas" / lib["sha256"][:2] / lib["sha256"]
    assert blob.is_file()
    shutil.rmtree(proj / ".ppm")  # force a restore from the cache
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(100)
        f.write(b"\xde\xad\xbe\xef")
    s2 = build_json(proj)
    st = statuses(s2)
    assert st["mathx:link"] == "ran", "a corrupt blob must never be used"
    assert st["mathx:compile-src/add.c"] == "cached"
    reason = next(a["reason"] for a in s2["actions"] if a["id"] == "mathx:link")
    assert "corrupt" in reason
    new = next(a["outputs"]["libmathx.so"] for a in s2["actions"] if "libmathx.so" in a["outputs"])
    assert new["sha256"] == lib["sha256"]
    from ppm.core.fsutil import sha256_file

    assert sha256_file(blob) == lib["sha256"]


def test_failing_compiler_is_reported_and_harms_nothing(proj: Path, ppm_cache: Path) -> None:
    s = build_json(proj)
    bundle = Path(next(iter(s["bundles"].values()))["path"])
    before = bundle.read_bytes()
    time.sleep(0.06)
    write(proj / "mathx/src/add.c", "int add(int a, int b) { return a + ; }\n")
    p = run_ppm("build", cwd=proj, check=False)
    assert p.returncode == 1
    assert "mathx:compile-src/add.c failed (exit 1)" in p.stderr
    assert "add.c" in p.stderr and "error" in p.stderr  # the compiler's own words
    assert p.stderr.count("error:") >= 1
    assert bundle.read_bytes() == before  # the last good bundle stays
    write(proj / "mathx/src/add.c", '#include "mathx.h"\nint add(int a, int b) { return a + b; }\n')
    s3 = build_json(proj)
    # the reverted source has the key of the last good build: its outputs are still in place
    assert statuses(s3)["mathx:compile-src/add.c"] == "up-to-date"
    assert s3["actions_failed"] == 0


def test_keep_going_builds_independent_work(proj: Path) -> None:
    write(proj / "mathx/src/add.c", "int add(int a, int b) { return a + ; }\n")
    p = run_ppm("build", "--keep-going", "--json", cwd=proj, check=False)
    assert p.returncode == 1
    st = statuses(json.loads(p.stdout))
    assert st["mathx:compile-src/add.c"] == "failed"
    assert st["mathx:compile-src/mul.c"] == "ran"
    assert st["mathx:link"] == "skipped" and st["app:link"] == "skipped"
    assert (proj / ".ppm/out/linux-x86_64/mathx/compile-src%2Fmul.c/src_mul.o").is_file()


def test_cycle_is_named(proj: Path) -> None:
    text = (proj / "ppm.toml").read_text().replace('path = "mathx"', 'path = "mathx"\nneeds = ["app"]')
    (proj / "ppm.toml").write_text(text)
    p = run_ppm("build", cwd=proj, check=False)
    assert p.returncode == 1
    assert "dependency cycle between components: app -> mathx -> app" in p.stderr
    p = run_ppm("graph", cwd=proj, check=False)
    assert p.returncode == 1 and "cycle" in p.stderr


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('name = "proj"', 'name = "proj'), "ppm.toml:3:"),
    (lambda t: t.replace('builder = "cc"\npath = "mathx"', 'builder = "fortran"\npath = "mathx"'), "unknown builder 'fortran'"),
    (lambda t: t.replace('kind = "executable"', 'kind = "executable"\nspeed = "fast"'), "unknown setting 'speed'"),
    (lambda t: t.replace('kind = "executable"', 'kind = 3'), "components.app.kind: expected str, got int"),
    (lambda t: t.replace('path = "app"', 'path = "nowhere"'), "source directory 'nowhere' does not exist"),
    (lambda t: t.replace('needs = ["mathx"]', 'needs = ["ghost"]'), "needs 'ghost', which is not a component"),
])
def test_malformed_manifest(proj: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    (proj / "ppm.toml").write_text(edit((proj / "ppm.toml").read_text()))
    p = run_ppm("build", cwd=proj, check=False)
    assert p.returncode == 1, p.stderr
    assert expected in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.count("\n") <= 3, "one clear message, not a wall of text"


def test_unknown_setting_names_line(proj: Path) -> None:
    (proj / "ppm.toml").write_text((proj / "ppm.toml").read_text().replace('kind = "executable"', 'kind = "executable"\nspeed = "fast"'))
    p = run_ppm("build", cwd=proj, check=False)
    assert f"{proj / 'ppm.toml'}:15:1" in p.stderr


def test_missing_toolchain_message(proj: Path, tmp_path: Path) -> None:
    cc = tmp_path / "no-such-cc"
    p = run_ppm("build", cwd=proj, check=False, env={"CC": str(cc), "PATH": "/nonexistent"})
    assert p.returncode == 1
    # One message naming the component, the toolchain, what is wrong and what to do.
    assert f"component 'mathx' (cc) cannot be built: cc is not usable: CC={str(cc)!r} names no executable" in p.stderr
    assert "install a C compiler" in p.stderr and "optional = true" in p.stderr
    assert "Traceback" not in p.stderr


def marking_cc(tmp_path: Path, seconds: float) -> tuple[dict[str, str], Path]:
    """A C compiler that leaves start.<pid> before it works (then takes `seconds` longer) and
    end.<pid> after: the test sees which compiler runs were under way when it killed ppm."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "markcc"
    script.write_text(f'#!/bin/sh\ntouch "{marks}/start.$$"\nsleep {seconds}\ncc "$@"\nrc=$?\n'
                      f'touch "{marks}/end.$$"\nexit $rc\n')
    script.chmod(0o755)
    return {"CC": str(script)}, marks


# The build runs 5 compiler processes (compile add.c and mul.c, link libmathx, compile main.c,
# link app): kill ppm while the 1st, the 3rd (the library's link) or the 5th (the app's link) runs.
@pytest.mark.parametrize("nth", [1, 3, 5])
def test_killed_build_recovers(proj: Path, tmp_path: Path, nth: int) -> None:
    cc_env, marks = marking_cc(tmp_path, 0.4)
    proc = subprocess.Popen([sys.executable, "-m", "ppm", "build", "-j2"], cwd=proj, env={**os.environ, **cc_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(marks.glob("start.*"))) < nth:
        assert proc.poll() is None, "the build ended before the compiler run to kill it in"
        assert time.monotonic() < deadline, "the compiler never started"
        time.sleep(0.01)
    started, ended = len(list(marks.glob("start.*"))), len(list(marks.glob("end.*")))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The kill landed mid-build: a compiler run was under way and the bundle was not placed.
    assert started > ended, (started, ended)
    assert proc.returncode == -signal.SIGKILL
    assert not list((proj / "dist").glob("*/proj")), "the build had finished before the kill"
    s = build_json(proj)
    assert s["actions_failed"] == 0
    bundle = Path(next(iter(s["bundles"].values()))["path"])
    assert bundle.stat().st_mode & stat.S_IXUSR
    s2 = build_json(proj)
    assert s2["actions_executed"] == 0 and s2["actions_cached"] == 0


def test_concurrent_builds_do_not_corrupt(proj: Path, tmp_path: Path) -> None:
    env = {**os.environ, **slow_cc(tmp_path, 0.2)}
    procs = [subprocess.Popen([sys.executable, "-m", "ppm", "build", "--json"], cwd=proj, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    digests = {json.loads(o)["bundles"]["linux-x86_64"]["sha256"] for o, _ in outs}
    assert len(digests) == 1
    assert sum(json.loads(o)["actions_executed"] for o, _ in outs) == 5  # the others waited and found it done


def test_graph_json_and_dot(proj: Path) -> None:
    g = json.loads(run_ppm("graph", "--json", cwd=proj).stdout)
    assert {c["name"] for c in g["components"]} == {"mathx", "app"}
    assert {"from": "app", "to": "mathx"} in g["edges"]
    link = next(a for a in g["actions"] if a["id"] == "mathx:link")
    assert set(link["needs"]) == {"mathx:compile-src/add.c", "mathx:compile-src/mul.c"}
    dot = run_ppm("graph", "--dot", cwd=proj).stdout
    assert dot.startswith("digraph ppm {") and '"mathx:link" -> "app:compile-src/main.c";' in dot


def test_keys_hold_no_absolute_paths(proj: Path) -> None:
    build_json(proj)
    record = json.loads((proj / ".ppm/actions.json").read_text())
    text = json.dumps([a["ingredients"] for a in record["actions"].values()])
    assert str(proj) not in text and str(Path.home()) not in text


def test_same_project_elsewhere_hits_the_cache(proj: Path, tmp_path: Path) -> None:
    build_json(proj)
    other = tmp_path / "elsewhere" / "proj"
    shutil.copytree(proj, other, ignore=shutil.ignore_patterns(".ppm", "dist"))
    s = build_json(other)
    assert s["actions_executed"] == 0 and s["actions_cached"] == 5


def test_corrupt_action_cache_database_is_set_aside(proj: Path, ppm_cache: Path) -> None:
    build_json(proj)
    db = ppm_cache / "store" / "ac.sqlite"
    assert db.is_file()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    shutil.rmtree(proj / ".ppm")
    s = build_json(proj)
    assert s["actions_failed"] == 0 and s["actions_executed"] == 5  # nothing was trusted
    assert list((ppm_cache / "store").glob("ac.sqlite.corrupt-*"))
    s2 = build_json(proj)
    assert s2["actions_executed"] == 0


def test_noop_notices_a_tool_installed_on_path(proj: Path, tmp_path: Path) -> None:
    """A new file in a PATH directory (a toolchain just installed) sends the build down the full path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    build_json(proj, env=env)
    assert run_ppm("build", cwd=proj, env=env).stderr == "nothing to do: 5 actions up to date\n"
    time.sleep(0.06)
    (bindir / "native-image").write_text("#!/bin/sh\n")
    p = run_ppm("build", cwd=proj, env=env)
    assert "nothing to do: 5 actions up to date (" in p.stderr  # the full path ran, and found nothing to do


def test_doctor_exit_status_reaches_the_shell(tmp_path: Path) -> None:
    """A command that ends with a non-zero typer.Exit must exit non-zero in a real process."""
    p = run_ppm("doctor", cwd=tmp_path, check=False, env={"PATH": "/nonexistent", "CC": ""})
    assert p.returncode == 1, p.stdout + p.stderr
