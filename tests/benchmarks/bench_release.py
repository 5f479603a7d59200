"""Benchmark `ppm release` of the template: with the compressed copy skipped below the threshold
(today's default) against always making it (`compress-min-saving = 0`, what ppm did before), and
the peer `zstd -19 --long` CLI on the same bundle, all in the same run.

Run by hand (it builds the template: cargo, a C compiler and the provisioned toolchains):

    python tests/benchmarks/bench_release.py [--repeat 3] [--project DIR]

Each release is a real `ppm release --force --json` in a child process (wall-clock seconds of the
whole command, the build answered from cache), against a scratch repository and scratch keys.
The table is printed and saved to tests/benchmarks/results/release.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "release.md"


def _ppm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ppm", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def _set_min_saving(toml: Path, value: float | None) -> None:
    text = re.sub(r"(?m)^compress-min-saving = .*\n", "", toml.read_text())
    if value is not None:
        text = text.replace("[release]\n", f"[release]\ncompress-min-saving = {value}\n")
    toml.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--project", type=Path, help="an existing project (default: a fresh `ppm init` of the template)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ppm-bench-release-"))
    env = {**os.environ, "PPM_KEYS_DIR": str(work / "keys" / "online"), "PPM_ROOT_KEY_DIR": str(work / "keys" / "root")}
    if args.project:
        root = work / "proj"
        shutil.copytree(args.project, root, ignore=shutil.ignore_patterns("dist", ".ppm"))
    else:
        _ppm("init", "demo", cwd=work, env=env)
        root = work / "demo"
    toml = root / "ppm.toml"
    text = re.sub(r"(?ms)^\[release\].*?(?=^\[|\Z)", "", toml.read_text())
    toml.write_text(text.rstrip() + f'\n\n[release]\nrepository = "{work / "repo"}"\n')
    t = time.time()
    _ppm("build", cwd=root, env=env)
    build_s = time.time() - t
    _ppm("keys", "init", cwd=root, env=env)
    times: dict[str, list[float]] = {"skip below 5% (default)": [], "always zstd -19 (before)": []}
    bundle: Path | None = None
    for _ in range(args.repeat):
        for label, value in (("always zstd -19 (before)", 0.0), ("skip below 5% (default)", None)):
            _set_min_saving(toml, value)
            t = time.time()
            rep = json.loads(_ppm("release", "--force", "--json", cwd=root, env=env).stdout)
            times[label].append(time.time() - t)
            tr = next(iter(rep["targets"].values()))
            bundle = root / "dist" / next(iter(rep["targets"])) / tr["bundle"]
            if value == 0.0:
                saved = 1 - tr["compressed_size"] / tr["size"]
    zstd_s: list[float] = []
    if shutil.which("zstd") and bundle is not None:
        for _ in range(args.repeat):
            t = time.time()
            subprocess.run(["zstd", "-19", "--long=27", "-T0", "-q", "-f", str(bundle), "-o", str(work / "b.zst")], check=True)
            zstd_s.append(time.time() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    size = bundle.stat().st_size if bundle else 0
    lines = [
        f"# `ppm release` of the template ({size / 1e6:.1f} MB bundle; build {build_s:.0f} s before, then cached)",
        "",
        f"medians of {args.repeat}, wall-clock seconds of the whole `ppm release --force --json`; zstd -19 saved {saved:.1%}",
        "",
        "| variant | seconds | ratio to before |",
        "| --- | --- | --- |",
    ]
    before = med["always zstd -19 (before)"]
    for k, v in med.items():
        lines.append(f"| {k} | {v:.2f} | {v / before:.2f}x |")
    if zstd_s:
        lines.append(f"| peer: `zstd -19 --long=27 -T0` on the bundle alone | {statistics.median(zstd_s):.2f} | "
                     f"{statistics.median(zstd_s) / before:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
