"""Host bundlers compared: the webapp template's Python host (an HTTP server embedding an HTML
page, CSS and a TypeScript UI) bundled by PyInstaller and by Nuitka (`--onefile`), measured in
the same run.

  python tests/benchmarks/bench_hosts.py [--runs N]

For each bundler: the cold `ppm build` time (fresh ppm cache; the UI is rebuilt too, a few
hundred ms of it), the bundle's size, and two start-up times, each the median of N runs of the
bundle copied alone into an empty directory with an empty environment:
  - `--self-check`: start, unpack, import, check every embedded file, exit;
  - first byte: start serving on a free port until GET / returns the page.
Ratios are Nuitka / PyInstaller. Needs the provisioned toolchains (`ppm toolchain list
--provision`); runs offline. Nuitka compiles to C: its build takes minutes on 2 shared cores.
Results go to tests/benchmarks/results/hosts.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))


def _ppm(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ppm", *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if p.returncode != 0:
        raise SystemExit(f"ppm {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return took


def _self_check(exe: Path, cwd: Path) -> float:
    started = time.perf_counter()
    p = subprocess.run(["env", "-i", str(exe), "--self-check"], cwd=cwd, capture_output=True, timeout=120)
    took = time.perf_counter() - started
    if p.returncode != 0:
        raise SystemExit(f"{exe} --self-check failed: {p.stdout!r} {p.stderr!r}")
    return took


def _first_byte(exe: Path, cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(["env", "-i", str(exe), "--port", "0"], cwd=cwd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        url = line.split()[-1]
        with urllib.request.urlopen(url, timeout=60) as r:
            if b"<script" not in r.read():
                raise SystemExit(f"{exe}: / did not return the page")
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _measure(exe: Path, work: Path, runs: int) -> dict[str, float]:
    alone = work / "alone"
    shutil.rmtree(alone, ignore_errors=True)
    alone.mkdir()
    shutil.copy2(exe, alone / exe.name)
    bundle = alone / exe.name
    _self_check(bundle, alone)  # once to warm the page cache, as a user's second start would be
    checks = [_self_check(bundle, alone) for _ in range(runs)]
    firsts = [_first_byte(bundle, alone) for _ in range(runs)]
    return {"size": exe.stat().st_size, "self_check": statistics.median(checks), "first_byte": statistics.median(firsts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="start-up runs per bundle (the median is reported)")
    opts = ap.parse_args()
    from ppm.core.paths import toolchains_dir
    from ppm.targets import host_platform

    work = Path(tempfile.mkdtemp(prefix="bench-hosts-"))
    env = {**os.environ, "PPM_CACHE_DIR": str(work / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1"}
    _ppm(["init", "wa", "--template", "webapp"], work, env)
    root = work / "wa"
    toml = root / "ppm.toml"
    exe = root / "dist" / host_platform() / "wa"
    results: dict[str, dict[str, float]] = {}
    for bundler in ("pyinstaller", "nuitka"):
        toml.write_text(toml.read_text().replace('builder = "pyinstaller"', f'builder = "{bundler}"'))
        shutil.rmtree(work / "cache", ignore_errors=True)
        build = _ppm(["build", "--quiet"], root, env)
        results[bundler] = {"build": build, **_measure(exe, work, opts.runs)}
        print(bundler, {k: round(v, 3) for k, v in results[bundler].items()}, flush=True)
    pi, nu = results["pyinstaller"], results["nuitka"]

    def row(what: str, key: str, fmt: str) -> str:
        return f"| {what} | {fmt.format(pi[key])} | {fmt.format(nu[key])} | {nu[key] / pi[key]:.2f}x |"

    py = f"{platform.python_implementation()} {platform.python_version()}"
    text = "\n".join([
        "# Host bundlers: PyInstaller vs Nuitka",
        "",
        f"`python tests/benchmarks/bench_hosts.py --runs {opts.runs}` on {os.cpu_count()} cores (shared), "
        f"{time.strftime('%Y-%m-%d')}, {py}, the webapp template's host.",
        "",
        "| what | PyInstaller 6.22.3 | Nuitka 4.3.3 | Nuitka / PyInstaller |",
        "| --- | --- | --- | --- |",
        row("bundle size", "size", "{:,.0f} B"),
        row(f"start-up: `--self-check` (median of {opts.runs})", "self_check", "{:.3f} s"),
        row(f"start-up: first byte of GET / (median of {opts.runs})", "first_byte", "{:.3f} s"),
        row("cold `ppm build` (one run)", "build", "{:.1f} s"),
        "",
        "Both bundles are one-file executables that unpack themselves into a temporary directory on",
        "every start, so start-up is mostly that unpacking plus the interpreter's own start. One run",
        "of each build on a shared machine: the build times are indicative, the ratios compare runs",
        "made back to back. Both builds are cold: a fresh ppm cache and a fresh project, whose state",
        "directory holds the bundlers' own caches (PYINSTALLER_CONFIG_DIR, NUITKA_CACHE_DIR).",
        "",
    ])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "hosts.md").write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
