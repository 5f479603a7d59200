"""The daily loop, each figure against its peer measured in the same run, on the template:

  python tests/benchmarks/bench_dev.py [--repeat 3]

1. Edit to running app in `ppm dev` (save -> the restarted host has printed the changed line),
   for a C, a Rust and a TypeScript edit, against `ppm build` after the same edit (today's
   bundle rebuild: PyInstaller reruns). For Rust, also against cargo's own incremental
   `cargo build --release` of the crate alone after the same edit (goal: <= cargo + 1 s).
2. TypeScript edit to the browser's reload signal: esbuild's serve (`ppm dev`) sends a `change`
   event on /esbuild; measured from save to that event (goal: <= 0.5 s).
3. `ppm test` of the template, second run (nothing changed), against `cargo test` on the
   crate alone, second run.

Run it from this checkout's virtual environment (`.venv/bin/python`); medians of --repeat.
Results go to tests/benchmarks/results/dev.md.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PPM = [sys.executable, "-m", "ppm"]


class Dev:
    def __init__(self, root: Path, env: dict[str, str], port: int) -> None:
        self.proc = subprocess.Popen([*PPM, "dev", "--port", str(port)], cwd=root, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern: str, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                t, line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return t
        raise RuntimeError(f"ppm dev printed no line matching {pattern!r}:\n" + "\n".join(self.seen[-40:]))

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


class Reloads:
    """An EventSource client of esbuild's /esbuild: the time of each `change` event."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[float] = queue.Queue()
        for _ in range(100):
            try:
                req = urllib.request.Request(url + "esbuild", headers={"Accept": "text/event-stream"})
                self.resp = urllib.request.urlopen(req, timeout=600)
                break
            except OSError:
                time.sleep(0.1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.resp:
            if raw.startswith(b"event: change"):
                self.events.put(time.monotonic())

    def next(self, timeout: float = 30) -> float:
        return self.events.get(timeout=timeout)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.monotonic()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.monotonic() - t


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.repeat
    work = Path(tempfile.mkdtemp(prefix="ppm-bench-dev-"))
    from ppm.core.paths import toolchains_dir

    env = {**os.environ, "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_CACHE_DIR": str(work / "cache"), "PPM_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "PPM_CONFIG": str(work / "no-config.toml")}
    subprocess.run([*PPM, "init", "demo"], cwd=work, env=env, check=True, capture_output=True)
    root = work / "demo"
    gcd, lib, greeting = root / "cmath/src/gcd.c", root / "core/src/lib.rs", root / "ui/src/greeting.ts"
    # Every edit writes content never seen before (K counts up), so no round is a cache hit.
    originals = {p: p.read_text() for p in (gcd, lib, greeting)}
    kinds = {
        "c": (gcd, "return a;", "return a + {k};", "^c: error: cmath_gcd\\(1071, 462\\) returned {v}", 21),
        "rs": (lib, "    a\n}", "    a + {k}\n}}", "^rust: error: core_fibonacci\\(20\\) returned {v}", 6765),
        "ts": (greeting, "languages: ", "languages{k}: ", "^typescript:", 0),
    }

    def change(kind: str, k: int, base: Path | None = None) -> tuple[float, str]:
        path, old, new, pattern, v0 = kinds[kind]
        target = base / path.relative_to(root) if base else path
        text = originals[path].replace(old, new.format(k=k))
        t = time.monotonic()
        target.write_text(text)
        return t, pattern.format(v=v0 + k)

    results: dict[str, list[float]] = {k: [] for k in ("dev_c", "dev_rs", "dev_ts", "reload_ts", "build_c", "build_rs",
                                                       "build_ts", "cargo_rs", "ppm_test2", "cargo_test2")}
    port = 18000 + os.getpid() % 1000
    dev = Dev(root, env, port)
    try:
        dev.wait_for(r"^python: ")
        reloads = Reloads(f"http://127.0.0.1:{port}/")
        for i in range(n):
            for kind in ("c", "rs", "ts"):
                time.sleep(0.3)
                dev.drain()
                t0, pattern = change(kind, i + 1)
                if kind == "ts":
                    results["reload_ts"].append(reloads.next() - t0)
                dev.wait_for(pattern)
                results[f"dev_{kind}"].append(dev.wait_for(r"^python: ") - t0)
    finally:
        dev.stop()

    # Today's loop: `ppm build` (the PyInstaller bundle) after the same kind of edit.
    for p, text in originals.items():
        p.write_text(text)
    subprocess.run([*PPM, "build"], cwd=root, env=env, check=True, capture_output=True)
    for i in range(n):
        for kind in ("c", "rs", "ts"):
            change(kind, 100 + i)
            results[f"build_{kind}"].append(timed([*PPM, "build"], root, env))
    for p, text in originals.items():
        p.write_text(text)

    # cargo alone on a copy of the crate: its own incremental release build after the same edit.
    crate = work / "crate"
    shutil.copytree(root / "core", crate)
    cargo = shutil.which("cargo") or "cargo"
    subprocess.run([cargo, "build", "--release", "--offline"], cwd=crate, check=True, capture_output=True)
    for i in range(n):
        (crate / "src/lib.rs").write_text(originals[lib].replace("    a\n}", f"    a + {200 + i}\n}}"))
        results["cargo_rs"].append(timed([cargo, "build", "--release", "--offline"], crate, env))
    (crate / "src/lib.rs").write_text(originals[lib])

    # `ppm test` second run vs `cargo test` second run on the crate.
    subprocess.run([*PPM, "test"], cwd=root, env=env, check=True, capture_output=True)
    subprocess.run([cargo, "test", "--offline"], cwd=crate, check=True, capture_output=True)
    for _ in range(n):
        results["ppm_test2"].append(timed([*PPM, "test"], root, env))
        results["cargo_test2"].append(timed([cargo, "test", "--offline"], crate, env))

    m = {k: med(v) for k, v in results.items()}
    rows = [
        ("C edit -> app restarted", m["dev_c"], "ppm build (bundle)", m["build_c"], "goal <= 2 s"),
        ("Rust edit -> app restarted", m["dev_rs"], "ppm build (bundle)", m["build_rs"],
         f"goal <= cargo + 1 s = {m['cargo_rs'] + 1:.2f} s"),
        ("Rust edit -> app restarted", m["dev_rs"], "cargo build --release (crate alone)", m["cargo_rs"], ""),
        ("TypeScript edit -> app restarted", m["dev_ts"], "ppm build (bundle)", m["build_ts"], ""),
        ("TypeScript edit -> browser reload event", m["reload_ts"], "ppm build (bundle)", m["build_ts"], "goal <= 0.5 s"),
        ("ppm test, 2nd run (nothing changed)", m["ppm_test2"], "cargo test, 2nd run (crate alone)", m["cargo_test2"], ""),
    ]
    lines = ["# ppm dev / ppm test benchmarks", "",
             f"`{Path(sys.executable).name} tests/benchmarks/bench_dev.py --repeat {n}`, medians of {n}, "
             f"{os.cpu_count()} cores shared with other work.", "",
             "| measured | ppm | peer | peer time | ratio (peer / ppm) | note |", "| --- | --- | --- | --- | --- | --- |"]
    for what, ours, peer, theirs, note in rows:
        lines.append(f"| {what} | {ours:.2f} s | {peer} | {theirs:.2f} s | {theirs / ours:.1f}x | {note} |")
    lines += ["", "Raw (seconds): " + ", ".join(f"{k}={[round(x, 3) for x in v]}" for k, v in results.items()), ""]
    out = HERE / "results" / "dev.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
