"""Lock timings against the recorded fixtures on the local registry server:
cold resolve (empty HTTP cache), warm resolve (ETag revalidation), and the `ppm lock` no-op.
Run: python tests/benchmarks/bench_lock.py"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[2]))

from registry_server import RegistryServer  # noqa: E402

MANIFEST = """[project]
name = "bench"
targets = ["linux-x86_64", "windows-x86_64"]

[dependencies.pypi]
anyio = ""
[dependencies.npm]
is-odd = "*"
[dependencies.cargo]
itoa = "1"
ryu = "1"
[dependencies.go]
"github.com/google/uuid" = "v1.6.0"
[dependencies.maven]
"org.slf4j:slf4j-api" = "2.0.13"
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ppm", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as d, RegistryServer() as srv:
        proj = Path(d) / "p"
        proj.mkdir()
        (proj / "ppm.toml").write_text(MANIFEST)
        env = {**os.environ, **srv.env(), "PPM_CACHE_DIR": str(Path(d) / "cache"),
               "PYTHONPATH": str(Path(__file__).parents[2])}
        print(f"ppm --version        {run(['--version'], proj, env):.3f} s")
        print(f"ppm lock (cold)      {run(['lock'], proj, env):.3f} s")
        (proj / "ppm.lock").unlink()
        print(f"ppm lock (warm)      {run(['lock'], proj, env):.3f} s")
        times = sorted(run(["lock"], proj, env) for _ in range(5))
        print(f"ppm lock (no-op)     {times[2]:.3f} s  (median of 5)")
        times = sorted(run(["lock", "--check"], proj, env) for _ in range(5))
        print(f"ppm lock --check     {times[2]:.3f} s  (median of 5)")


if __name__ == "__main__":
    main()
