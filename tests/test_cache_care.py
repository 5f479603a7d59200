"""`ppm clean`, `ppm cache stats` / `prune`, auto-prune, `ppm build COMPONENT…` and `ppm run`,
on real C builds (cc) through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")

LATER = 3600 * 10**9  # prune's clock an hour ahead: past its grace period for fresh blobs


def write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))


def c_project(root: Path, word: str) -> Path:
    """`app` (an executable printing `word`) needing `lib` (a static library)."""
    write(root / "ppm.toml", f"""\
        [project]
        name = "{root.name}"
        version = "0.1.0"
        entry = "app"

        [components.lib]
        builder = "cc"
        path = "lib"
        kind = "static"

        [components.app]
        builder = "cc"
        path = "app"
        kind = "executable"
        needs = ["lib"]
        ldflags = ["{{dep:lib}}/liblib.a"]
        """)
    write(root / "lib/include/lib.h", "const char *word(void);\n")
    write(root / "lib/src/word.c", f'#include "lib.h"\nconst char *word(void) {{ return "{word}"; }}\n')
    write(root / "app/src/main.c", """\
        #include <stdio.h>
        #include <string.h>
        const char *word(void);
        int main(int argc, char **argv) {
            printf("%s", word());
            for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
            printf("\\n");
            return argc > 1 && strcmp(argv[1], "fail") == 0 ? 3 : 0;
        }
        """)
    return root


@pytest.fixture
def env(tmp_path: Path, ppm_cache: Path) -> dict[str, str]:
    return {"PPM_CONFIG": str(tmp_path / "config.toml")}


def stats() -> dict:
    from ppm.build import prune

    return prune.stats().to_json()


def test_build_one_component_and_run(tmp_path: Path, env: dict[str, str]) -> None:
    root = c_project(tmp_path / "p", "hello")
    s = json.loads(run_ppm("build", "lib", "--json", cwd=root, env=env).stdout)
    assert {a["id"].split(":")[0] for a in s["actions"]} == {"lib"}
    assert s["bundles"] == {} and not (root / "dist").exists()
    # `ppm run` builds the rest, then runs the entry's program with the arguments after --.
    p = run_ppm("run", "--", "a", "b", cwd=root, env=env)
    assert p.stdout == "hello a b\n"
    p = run_ppm("run", "app", "--", "fail", cwd=root, env=env, check=False)
    assert p.returncode == 3 and p.stdout == "hello fail\n"  # the program's exit code is ppm's
    p = run_ppm("run", "lib", cwd=root, env=env, check=False)
    assert p.returncode == 1 and "component 'lib' builds no executable (its outputs: liblib.a)" in p.stderr
    p = run_ppm("build", "nosuch", cwd=root, env=env, check=False)
    assert p.returncode == 1 and "no component named 'nosuch'" in p.stderr
    # A partial build writes no no-op record: a full build afterwards still places the bundle.
    run_ppm("build", "lib", cwd=root, env=env)
    full = json.loads(run_ppm("build", "--json", cwd=root, env=env).stdout)
    assert full["bundles"], full


def test_clean_then_build_restores_from_cache(tmp_path: Path, env: dict[str, str]) -> None:
    root = c_project(tmp_path / "p", "hi")
    run_ppm("build", cwd=root, env=env)
    p = run_ppm("clean", cwd=root, env=env)
    assert "dist/" in p.stderr
    assert not (root / "dist").exists() and os.listdir(root / ".ppm") == ["build.lock"]
    s = json.loads(run_ppm("build", "--json", cwd=root, env=env).stdout)
    assert s["actions_executed"] == 0 and s["actions_cached"] == len(s["actions"])


def test_prune_keeps_what_a_build_still_uses(tmp_path: Path, env: dict[str, str]) -> None:
    from ppm.build import prune

    kept = c_project(tmp_path / "kept", "kept")
    gone = c_project(tmp_path / "gone", "gone")
    run_ppm("build", cwd=kept, env=env)
    run_ppm("build", cwd=gone, env=env)
    run_ppm("clean", cwd=gone, env=env)  # its outputs are now only in the store
    before = stats()
    assert before["bytes_in_use"] > 0 and before["bytes_reclaimable"] > 0
    res = prune.prune(max_size=0, now_ns=time.time_ns() + LATER)
    assert res.blobs_removed > 0 and res.entries_removed > 0
    after = stats()
    assert after["bytes_reclaimable"] == 0 and after["bytes_in_use"] == before["bytes_in_use"]
    # The project in use is untouched: still a no-op, its program still runs.
    assert "nothing to do" in run_ppm("build", cwd=kept, env=env).stderr
    assert subprocess.run([str(kept / "dist/linux-x86_64/app")], capture_output=True, text=True).stdout == "kept\n"
    # The pruned one rebuilds what was evicted (entries naming a missing blob are gone too); only
    # app/src/main.c's object, the same in both projects and so still linked by `kept`, is cached.
    s = json.loads(run_ppm("build", "--json", cwd=gone, env=env).stdout)
    st = {a["id"]: a["status"] for a in s["actions"]}
    assert st == {"lib:compile-src/word.c": "ran", "lib:link": "ran", "app:compile-src/main.c": "cached",
                  "app:link": "ran"}, st


def test_prune_evicts_least_recently_used_first(tmp_path: Path, env: dict[str, str]) -> None:
    from ppm.build import prune

    old, new = c_project(tmp_path / "old", "old"), c_project(tmp_path / "new", "new")
    run_ppm("build", cwd=old, env=env)
    time.sleep(0.05)
    run_ppm("build", cwd=new, env=env)
    run_ppm("clean", cwd=old, env=env)
    run_ppm("clean", cwd=new, env=env)
    half = stats()["bytes"] * 6 // 10
    prune.prune(max_size=half, now_ns=time.time_ns() + LATER)
    s_new = json.loads(run_ppm("build", "--json", cwd=new, env=env).stdout)
    s_old = json.loads(run_ppm("build", "--json", cwd=old, env=env).stdout)
    assert s_new["actions_executed"] == 0, s_new  # most recently used: kept
    assert s_old["actions_executed"] > 0, s_old  # least recently used: evicted first


def test_prune_while_a_build_runs(tmp_path: Path, env: dict[str, str]) -> None:
    """Prune in a loop, as hard as it can (everything not linked, no grace), while a build with a
    slow compiler runs: the build must succeed and what it stored must be whole or absent."""
    from ppm.build import prune

    root = c_project(tmp_path / "p", "busy")
    for i in range(6):
        write(root / f"lib/src/f{i}.c", f"int f{i}(void) {{ return {i}; }}\n")
    slow = tmp_path / "slowcc"
    slow.write_text("#!/bin/sh\nsleep 0.3\nexec cc \"$@\"\n")
    slow.chmod(0o755)
    e = {**os.environ, **env, "CC": str(slow)}
    proc = subprocess.Popen([sys.executable, "-m", "ppm", "build", "-j2"], cwd=root, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rounds = 0
    while proc.poll() is None:
        prune.prune(max_size=0, now_ns=time.time_ns() + LATER)
        rounds += 1
    _out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert rounds > 3
    assert subprocess.run([str(root / "dist/linux-x86_64/app")], capture_output=True, text=True).stdout == "busy\n"
    # Every entry left names blobs that are there; the next build trusts only those.
    from ppm.build.localstore import LocalStore
    from ppm.build.store import ActionRef

    store = LocalStore(prune.store_root())
    for (key,) in store._query("SELECT key FROM ac"):
        assert store.get_action_result(ActionRef(key)) is not None
    assert "nothing to do" in run_ppm("build", cwd=root, env={**env, "CC": str(slow)}).stderr


def test_auto_prune_to_max_size_from_user_config(tmp_path: Path, env: dict[str, str]) -> None:
    a, b = c_project(tmp_path / "a", "a"), c_project(tmp_path / "b", "b")
    env = {**env, "PPM_PRUNE_GRACE_SECONDS": "0"}
    run_ppm("build", cwd=a, env=env)
    run_ppm("clean", cwd=a, env=env)
    assert stats()["bytes_reclaimable"] > 0
    Path(env["PPM_CONFIG"]).write_text('[cache]\nmax-size = "1KB"\n')
    p = run_ppm("build", cwd=b, env=env)
    assert "cache: pruned" in p.stderr and "max-size 1.0 KB" in p.stderr
    after = stats()
    assert after["bytes_reclaimable"] == 0 and after["bytes_in_use"] > 0  # b's own outputs stay
    assert subprocess.run([str(b / "dist/linux-x86_64/app")], capture_output=True, text=True).stdout == "b\n"
    # A malformed config is named, with the key, when a build reads it.
    Path(env["PPM_CONFIG"]).write_text('[cache]\nmax-size = "lots"\n')
    run_ppm("clean", cwd=b, env=env)
    p = run_ppm("build", cwd=b, env=env, check=False)
    assert p.returncode == 1 and "config.toml: cache.max-size: 'lots' is not a size" in p.stderr


def test_cache_cli(tmp_path: Path, env: dict[str, str]) -> None:
    root = c_project(tmp_path / "p", "x")
    run_ppm("build", cwd=root, env=env)
    st = json.loads(run_ppm("cache", "stats", "--json", cwd=root, env=env).stdout)
    assert st["entries"] >= 4 and st["bytes"] > 0 and st["bytes_in_use"] > 0
    dry = json.loads(run_ppm("cache", "prune", "--older-than", "0s", "--dry-run", "--json", cwd=root, env=env).stdout)
    assert dry["bytes_after"] <= st["bytes"]
    p = run_ppm("cache", "prune", cwd=root, env=env, check=False)
    assert p.returncode == 2 and "give --max-size or --older-than" in p.stderr
    p = run_ppm("cache", "prune", "--older-than", "soon", cwd=root, env=env, check=False)
    assert p.returncode == 2 and "'soon' is not an age" in p.stderr
