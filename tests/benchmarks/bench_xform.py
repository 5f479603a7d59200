"""Benchmark the executable transform's engines (ppm/exe_transform.py) on real releases, against
bsdiff4's whole apply of the same pair as the yardstick (the apply-time goal of issue 14).

Run by hand (the releases come from npm and PyPI through bench_patch.py's cached downloads; bsdiff4
from the `bench` extra):

    python tests/benchmarks/bench_xform.py [--pairs rollup-arm64-near,...] [--engines c,python,numpy]

For each pair: CPU time (time.process_time, median of 5, in this process) of decoding (what
applying a patch does) and encoding (making one) with each engine, of parsing the descriptor,
and of `bsdiff4.file_patch` on the same pair (in this process too, after one warm-up). Then the
CPU of importing ppm.exe_transform in a fresh interpreter, net of `python -c pass` (mean of 10,
byte-compiled first as an install does). The table is printed and saved to
tests/benchmarks/results/xform.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_patch import PAIRS, fetch_pair

from ppm import exe_transform as xt

RESULTS = Path(__file__).parent / "results" / "xform.md"
REPO = Path(__file__).resolve().parents[2]
DEFAULT = "rollup-arm64-near,rollup-win64-near,esbuild-near,esbuild-arm64-near"  # uv-near: bsdiff4 needs ~1 GB for it


def cpu_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times) * 1000


def child_cpu_ms(code: str, n: int = 10) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n * 1000


def bench_pair(name: str, engines: list[str]) -> dict[str, float | int | str]:
    import bsdiff4

    old_p, new_p = fetch_pair(name)
    old, new = old_p.read_bytes(), new_p.read_bytes()
    lo, ln = xt.detect(old), xt.detect(new)
    if lo is None or ln is None:
        raise SystemExit(f"{name}: not an executable the transform handles")
    maps = xt.build_map(old, lo, new, ln)
    encoded = bytearray(new)
    refs = xt.transform(encoded, ln, maps, encode=True, engine="python")
    desc = xt.pack_descriptor(ln, maps)
    row: dict[str, float | int | str] = {"code": ln.code_size, "refs": refs, "layout": ln.name,
                                          "desc": cpu_ms(lambda: xt.unpack_descriptor(desc, len(new)))}
    for engine in engines:
        for encode, src, want in ((False, bytes(encoded), new), (True, new, bytes(encoded))):
            spent = []
            for _ in range(5):
                buf = bytearray(src)
                t = time.process_time()
                xt.transform(buf, ln, maps, encode=encode, engine=engine)
                spent.append(time.process_time() - t)
                if buf != want:
                    raise SystemExit(f"{name}: the {engine} engine does not give the Python loop's bytes")
            row[f"{engine}-{'enc' if encode else 'dec'}"] = statistics.median(spent) * 1000
    with tempfile.TemporaryDirectory() as d:
        patch, out = Path(d, "p"), Path(d, "out")
        bsdiff4.file_diff(str(old_p), str(new_p), str(patch))
        bsdiff4.file_patch(str(old_p), str(out), str(patch))
        row["bspatch"] = cpu_ms(lambda: bsdiff4.file_patch(str(old_p), str(out), str(patch)))
    return row


def render(rows: dict[str, dict[str, float | int | str]], engines: list[str], imports: tuple[float, float], argv: list[str]) -> str:
    cols = [f"{e}-{d}" for e in engines for d in ("dec", "enc")]
    lines = [
        "# Executable transform: CPU per engine",
        "",
        f"`python tests/benchmarks/bench_xform.py {' '.join(argv)}` on {platform.machine()}, Python"
        f" {platform.python_version()}, load {' / '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "CPU ms (median of 5) of transform() decoding (apply) and encoding (make), of parsing the"
        " descriptor, and of bsdiff4's whole file_patch on the same pair; the last column is the C decode"
        " as a fraction of bspatch's apply.",
        "",
        "| pair | layout | code MB | references | descriptor | " + " | ".join(cols) + " | bspatch | C dec / bspatch |",
        "| --- | --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in cols) + " | ---: | ---: |",
    ]
    for name, r in rows.items():
        ratio = f"{float(r['c-dec']) / float(r['bspatch']):.3f}" if "c-dec" in r else "-"
        lines.append(
            f"| {name} | {r['layout']} | {int(r['code']) / 1e6:.1f} | {r['refs']} | {float(r['desc']):.1f} | "
            + " | ".join(f"{float(r[c]):.1f}" for c in cols)
            + f" | {float(r['bspatch']):.1f} | {ratio} |"
        )
    lines += ["", f"`import ppm.exe_transform`: {imports[0] - imports[1]:.1f} ms of CPU beyond `python -c pass` ({imports[1]:.1f} ms)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default=DEFAULT, help=f"comma-separated, from: {', '.join(PAIRS)}")
    ap.add_argument("--engines", default="c,python,numpy")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.relative_to(REPO)}")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if "c" in engines and xt._native() is None:
        raise SystemExit("ppm._xform is not built: pip install -e . with a C compiler")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ppm")], check=True)
    imports = (child_cpu_ms("import ppm.exe_transform"), child_cpu_ms("pass"))
    rows = {}
    for name in args.pairs.split(","):
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows[name] = bench_pair(name, engines)
    text = render(rows, engines, imports, sys.argv[1:])
    if not args.no_save:
        RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
