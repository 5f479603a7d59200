"""Remote cache and remote execution benchmarks, each against its local peer in the same run.

  python tests/benchmarks/bench_remote.py [--n 200] [--skip-template] [--workers 2] [--worker-toolchain cc]
                                          [--also-every-toolchain]

1. Warm remote cache against a cold local build: the template (`ppm init`) built from a clean
   checkout with an empty local cache and a warm BuildGrid cache, against the same build cold
   with no remote at all. (--skip-template: the C graph instead.)
2. Overhead per action on a remote cache hit: the N-component C graph (2N actions) from a warm
   BuildGrid cache into an empty local cache, against the same from a warm local cache; both
   from a clean checkout, so every action is looked up and restored. Reported in ms per action.
3. The N-component C graph built cold on two local `ppm worker`s (BuildGrid on PostgreSQL, all
   on 127.0.0.1) against `ppm build -j2`: the overhead of going through the farm on one machine.
   The workers offer only the C toolchain (`--toolchain cc`, a C farm), as docs/remote.md
   advises: BuildGrid matches a job against every subset of what a bot offers, so a bot offering
   all of the toolchains it finds costs the server 2^N capability rows per bot update.
   --also-every-toolchain adds the same build on workers' default offer (every toolchain found
   usable; provisioned ones are never offered since pinned tools left the REAPI platform).

Servers come from tests/remote_servers.py (the deployment files in ci/remote/). ppm is this
checkout's (the interpreter running the script). Results: tests/benchmarks/results/remote.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

from c_graph import generate  # noqa: E402
from remote_servers import BuildGrid, Postgres  # noqa: E402

PPM = [sys.executable, "-m", "ppm"]


def timed_build(root: Path, env: dict[str, str], *args: str) -> tuple[float, dict]:
    t = time.perf_counter()
    p = subprocess.run([*PPM, "build", "--json", "-q", *args], cwd=root, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"ppm build {' '.join(args)} failed in {root}:\n{p.stderr[-3000:]}")
    return dt, json.loads(p.stdout)


def fresh(src: Path, dest: Path) -> Path:
    """A clean checkout: the sources without .ppm/ or dist/."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ppm", "dist", "target", "node_modules"))
    return dest


def row(what: str, ours: float, peer_name: str, peer: float, note: str = "") -> str:
    return f"| {what} | {ours:.2f} s | {peer_name} | {peer:.2f} s | {ours / peer:.2f}x | {note} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="components in the C graph")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-template", action="store_true")
    ap.add_argument("--worker-toolchain", default="cc", help="what the workers offer (--toolchain); '' for everything")
    ap.add_argument("--also-every-toolchain", action="store_true",
                    help="also build the graph on workers offering every found toolchain (the worker's default)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ppm-bench-remote")
    a = ap.parse_args()
    load_start = os.getloadavg()
    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    from ppm.core.paths import toolchains_dir

    base = {**os.environ, "PPM_TOOLCHAINS_DIR": str(toolchains_dir())}

    def env(cache: str) -> dict[str, str]:
        return {**base, "PPM_CACHE_DIR": str(a.work / cache)}

    rows: list[str] = []
    cache = BuildGrid(a.work / "bgd-cache")
    cache.start()
    try:
        # 1. warm remote vs cold local
        if a.skip_template:
            src = a.work / "graph-src"
            generate(src, a.n)
            what = f"clean checkout, {a.n} C components"
        else:
            src = a.work / "demo-src"
            subprocess.run([*PPM, "init", str(src)], env=env("init"), check=True, capture_output=True)
            what = "clean checkout of the template"
        t_cold, _ = timed_build(fresh(src, a.work / "cold"), env("cold-cache"))
        timed_build(fresh(src, a.work / "fill"), env("fill-cache"), "--remote-cache", cache.url)
        t_warm, s_warm = timed_build(fresh(src, a.work / "warm"), env("warm-cache"), "--remote-cache", cache.url)
        assert s_warm["actions_executed"] == 0, s_warm["actions_executed"]
        rows.append(row(f"{what}: warm remote cache, empty local cache", t_warm, "cold local build", t_cold,
                        f"{s_warm['actions_remote_cached']} actions from the remote"))

        # 2. per-action overhead of a remote hit vs a local hit
        graph = a.work / "graph"
        generate(graph, a.n)
        timed_build(fresh(graph, a.work / "g-fill"), env("g-fill-cache"), "--remote-cache", cache.url)
        t_local, s_local = timed_build(fresh(graph, a.work / "g-local"), env("g-fill-cache"))  # warm local cache
        t_remote, s_remote = timed_build(fresh(graph, a.work / "g-remote"), env("g-remote-cache"), "--remote-cache", cache.url)
        n_act = s_remote["actions_planned"]
        assert s_remote["actions_remote_cached"] == n_act and s_local["actions_cached"] == n_act
        per_remote, per_local = t_remote / n_act * 1000, t_local / n_act * 1000
        rows.append(row(f"{a.n} C components ({n_act} actions), all remote cache hits", t_remote,
                        "all local cache hits", t_local,
                        f"{per_remote:.1f} ms/action remote vs {per_local:.1f} ms/action local: "
                        f"+{per_remote - per_local:.1f} ms per remote hit"))
    finally:
        cache.stop()

    # 3. two local workers vs ppm build -j2
    t_local, _ = timed_build(fresh(graph, a.work / "x-local"), env("x-local-cache"), "-j2")
    offers = [a.worker_toolchain] + ([""] if a.also_every_toolchain and a.worker_toolchain else [])
    for k, offer in enumerate(offers):
        load = os.getloadavg()[0]
        t_farm = farm_build(a, graph, env, offer, f"x{k}")
        what = f"`--toolchain {offer}`" if offer else "every found toolchain (default)"
        rows.append(row(f"{a.n} C components cold on {a.workers} local workers (BuildGrid), workers offering {what}",
                        t_farm, "ppm build -j2", t_local, f"overhead of the farm on one machine; load {load:.1f} at start"))

    head = ["| what | ppm | peer | peer time | ratio | note |", "| --- | --- | --- | --- | --- | --- |"]
    text = "\n".join(head + rows)
    print(text)
    out = HERE / "results" / "remote.md"
    out.parent.mkdir(exist_ok=True)
    cmd = " ".join(["python tests/benchmarks/bench_remote.py", f"--n {a.n}", *(["--skip-template"] if a.skip_template else []),
                    *(["--also-every-toolchain"] if a.also_every_toolchain else [])])
    loads = f"load average {load_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    out.write_text(f"# Remote benchmarks\n\n`{cmd}` on {os.cpu_count()} cores (shared with other work: {loads}), "
                   f"{time.strftime('%Y-%m-%d')}.\n\n{text}\n")


def farm_build(a: argparse.Namespace, graph: Path, env: Callable[[str], dict[str, str]], offer: str, tag: str) -> float:
    """A fresh farm (PostgreSQL, BuildGrid, a.workers workers offering `offer`), one cold build through it."""
    pg = Postgres()
    pg.start()
    farm = BuildGrid(a.work / f"bgd-exec-{tag}", sql=pg.url)
    farm.start()
    workers = []
    logs = [a.work / f"{tag}-worker{i}.log" for i in range(a.workers)]
    try:
        for i in range(a.workers):
            log = open(logs[i], "w")  # noqa: SIM115 - the worker owns it
            workers.append(subprocess.Popen([*PPM, "worker", "--server", farm.url, "--work-dir", str(a.work / f"{tag}-w{i}"),
                                             *(["--toolchain", offer] if offer else [])],
                                            env=env(f"{tag}-worker{i}-cache"), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))
        deadline = time.time() + 60
        while sum(p.read_text().count("connected") for p in logs) < a.workers:
            if time.time() > deadline:
                raise SystemExit("workers did not connect")
            time.sleep(0.1)
        t_farm, s_farm = timed_build(fresh(graph, a.work / f"{tag}-farm"), env(f"{tag}-farm-cache"),
                                     "--remote-executor", farm.url, f"-j{4 * a.workers}")
        assert s_farm["actions_remote_executed"] == s_farm["actions_planned"]
        return t_farm
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
        farm.stop()
        pg.stop()


if __name__ == "__main__":
    main()
