"""Build-engine benchmarks, each against its peer measured in the same run.

  python tests/benchmarks/bench_build.py [--n 1000] [--skip-full] [--skip-template]

1. 1,000-component C graph: `ppm build` no-op vs `make` no-op, and the full build at -j2 vs
   `make -j2` (fresh cache for ppm, clean tree for make).
2. The template (`ppm init`): `ppm build` no-op vs `cargo build --release` no-op on the
   template's Rust crate alone.
3. `ppm --help` vs bare interpreter start-up and vs importing typer.

ppm runs from a virtual environment made for the benchmark (`pip install` of this checkout):
interpreters outside a venv here pay ~120 ms in site.py for a sandbox .pth file, which would
measure the machine, not ppm. Results go to tests/benchmarks/results/build.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from c_graph import generate  # noqa: E402


def venv(work: Path) -> Path:
    v = work / "venv"
    if not (v / "bin" / "ppm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(v)], check=True)
        subprocess.run([str(v / "bin" / "pip"), "install", "-q", str(REPO)], check=True)
    return v / "bin"


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None, runs: int = 1) -> float:
    """Median wall time of `runs` runs (the command must succeed)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def row(name: str, ours: float, peer_name: str, peer: float, bound: str) -> str:
    return f"| {name} | {ours * 1000:.0f} ms | {peer_name} | {peer * 1000:.0f} ms | {ours / peer:.2f}× | {bound} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="components in the C graph")
    ap.add_argument("--runs", type=int, default=10, help="runs per no-op measurement")
    ap.add_argument("--skip-full", action="store_true", help="skip the full C build (the slow part)")
    ap.add_argument("--skip-template", action="store_true")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ppm-bench")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    bindir = venv(a.work)
    ppm = str(bindir / "ppm")
    env = dict(os.environ, PPM_CACHE_DIR=str(a.work / "cache"))
    rows = []

    # 1. the C graph
    cg = a.work / "cgraph"
    generate(cg, a.n)
    if not a.skip_full:
        shutil.rmtree(a.work / "cache", ignore_errors=True)
        t_ppm = timed([ppm, "build", "-j2", "-q"], cg, env)
        t_make = timed(["make", "-j2", "-s"], cg)
        rows.append(row(f"full build, {a.n} C components, -j2", t_ppm, "make -j2", t_make, "≤ 1.15×"))
    else:
        subprocess.run([ppm, "build", "-j2", "-q"], cwd=cg, env=env, check=True)
        subprocess.run(["make", "-j2", "-s"], cwd=cg, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([ppm, "build", "-q"], cwd=cg, env=env, check=True)  # settle the no-op record
    t_ppm = timed([ppm, "build"], cg, env, a.runs)
    t_make = timed(["make", "-s"], cg, None, a.runs)
    rows.append(row(f"no-op, {a.n} C components", t_ppm, "make", t_make, "≤ 5×"))

    # 2. the template
    if not a.skip_template:
        demo = a.work / "demo"
        shutil.rmtree(demo, ignore_errors=True)
        subprocess.run([ppm, "init", str(demo)], check=True, env=env)
        subprocess.run([ppm, "build", "-q"], cwd=demo, env=env, check=True)
        subprocess.run([ppm, "build", "-q"], cwd=demo, env=env, check=True)
        t_ppm = timed([ppm, "build"], demo, env, a.runs)
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=demo / "core", check=True)
        t_cargo = timed(["cargo", "build", "--release", "-q"], demo / "core", None, a.runs)
        rows.append(row("no-op, template", t_ppm, "cargo build (crate alone)", t_cargo, "≤ 5×"))

    # 3. --help
    py = str(bindir / "python")
    t_help = timed([ppm, "--help"], a.work, env, a.runs)
    t_bare = timed([py, "-c", "pass"], a.work, None, a.runs)
    t_typer = timed([py, "-c", "import typer"], a.work, None, a.runs)
    rows.append(row("ppm --help", t_help, "python -c pass", t_bare, "close to start-up + CLI framework"))
    rows.append(row("ppm --help", t_help, "python -c 'import typer'", t_typer, "close to 1×"))

    head = ["| what | ppm | peer | peer time | ratio | bound |", "| --- | --- | --- | --- | --- | --- |"]
    text = "\n".join(head + rows)
    print(text)
    out = HERE / "results" / "build.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"# Build benchmarks\n\n`python tests/benchmarks/bench_build.py --n {a.n}` on {os.cpu_count()} cores, "
                   f"{time.strftime('%Y-%m-%d')}.\n\n{text}\n")


if __name__ == "__main__":
    main()
