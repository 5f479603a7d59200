"""The webapp template: a Python host serving an HTML page, its CSS and a TypeScript UI on
127.0.0.1, every file embedded in the one executable. Built with the real toolchains (esbuild,
PyInstaller, Nuitka), run, and fetched over HTTP. Slow: PyInstaller takes 40-60 s on 2 busy
cores, Nuitka 2-5 minutes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict]:
    from ppm import toolchains

    tcs = toolchains.resolve(["esbuild", "pyinstaller"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("toolchains not provisioned (`ppm toolchain list --provision`): " + "; ".join(missing))
    from ppm.core.paths import toolchains_dir

    base = tmp_path_factory.mktemp("webapp")
    env = {"PPM_CACHE_DIR": str(base / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1"}
    run_ppm("init", "wa", "--template", "webapp", cwd=base, env=env)
    root = base / "wa"
    return root, env, json.loads(run_ppm("build", "--json", cwd=root, env=env).stdout)


def _serve_and_fetch(exe: Path, summary: dict, tmp_path: Path) -> None:
    """Run the bundle alone (a copy, no environment), fetch every asset over HTTP and compare
    each with the digest of the output the build embedded."""
    outputs = {rel: o["sha256"] for a in summary["actions"] for rel, o in a["outputs"].items()}
    assert {"ui.js", "ui.css", "index.html"} <= set(outputs)
    alone = tmp_path / exe.name
    shutil.copy2(exe, alone)  # nothing beside it: everything is inside
    proc = subprocess.Popen(["env", "-i", str(alone), "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("wa: serving on http://127.0.0.1:"), line
        url = line.split()[-1]

        def get(path: str) -> tuple[str, bytes]:
            with urllib.request.urlopen(url + path, timeout=30) as r:
                return r.headers["Content-Type"], r.read()

        ctype, page = get("")
        assert ctype.startswith("text/html") and b'<script src="ui.js">' in page
        assert hashlib.sha256(page).hexdigest() == outputs["index.html"]
        ctype, css = get("ui.css")
        assert ctype.startswith("text/css") and hashlib.sha256(css).hexdigest() == outputs["ui.css"]
        ctype, js = get("ui.js")
        assert "javascript" in ctype and hashlib.sha256(js).hexdigest() == outputs["ui.js"]
        _, robots = get("robots.txt")  # the host's own file, embedded through `datas`
        assert robots.startswith(b"# Embedded through the pyinstaller builder's `datas` setting")
        status = json.loads(get("api/status")[1])
        assert status["app"] == "wa" and "/ui.css" in status["files"]
        with pytest.raises(urllib.error.HTTPError) as e:
            get("../ppm.toml")
        assert e.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert subprocess.run([str(alone), "--self-check"], capture_output=True, timeout=60).returncode == 0


def test_pyinstaller_bundle_serves_every_web_asset(webapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, summary = webapp
    _serve_and_fetch(root / "dist/linux-x86_64/wa", summary, tmp_path)


def test_nuitka_bundle_serves_every_web_asset(webapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same host bundled by Nuitka: one setting changed. Nuitka compiles to C: 2-5 minutes."""
    from ppm import toolchains

    tc = toolchains.resolve(["nuitka"], provision=False)["nuitka"]
    if not tc.usable:
        pytest.skip(f"Nuitka is not provisioned: {tc.note}")
    root, env, _ = webapp
    copy = tmp_path / "wa"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".ppm", "dist"))
    toml = copy / "ppm.toml"
    toml.write_text(toml.read_text().replace('builder = "pyinstaller"', 'builder = "nuitka"'))
    summary = json.loads(run_ppm("build", "--json", cwd=copy, env=env, timeout=1800).stdout)
    assert {a["id"]: a["status"] for a in summary["actions"]}["app:bundle"] == "ran"
    (tmp_path / "run").mkdir()
    _serve_and_fetch(copy / "dist/linux-x86_64/wa", summary, tmp_path / "run")


def test_other_targets_build_what_they_can_and_name_the_rest(webapp) -> None:  # type: ignore[no-untyped-def]
    root, env, _ = webapp
    from ppm import targets

    host = targets.host().name
    p = run_ppm("build", "--json", "--target", "host", "--target", "linux-aarch64", "--target", "windows-x86_64",
                cwd=root, env=env)
    s = json.loads(p.stdout)
    notes = [line for line in p.stderr.splitlines() if line.startswith("note: not built:")]
    assert notes == [f"note: not built: component 'app' (PyInstaller) cannot be built for {t} from this {host} machine: "
                     f"PyInstaller builds only for the machine it runs on; a {t} machine (or, with --remote-executor, a "
                     f"worker of that platform) would build it" for t in ("linux-aarch64", "windows-x86_64")], p.stderr
    statuses = {a["id"]: a["status"] for a in s["actions"]}
    assert statuses[f"{host}/app:bundle"] in ("up-to-date", "cached")  # the host bundle is still there
    assert statuses["linux-aarch64/ui:bundle"] == "ran" and statuses["windows-x86_64/ui:bundle"] == "ran"
    assert set(s["bundles"]) == {host} and not (root / "dist/linux-aarch64").exists()
