"""`ppm dev` on the template, through a real process: C, Rust and TypeScript edits show up in
the host's output as it restarts; a build error is printed and the loop goes on to the fix.
About 60 s on 2 busy cores (the first build compiles the Rust and Zig libraries)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.slow


class Dev:
    """A running `ppm dev` whose combined output is read line by line."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ppm", "dev", "--no-serve"], cwd=root,
                                     env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "ppm dev ended:\n" + "\n".join(self.seen)
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen[-60:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def edit(p: Path, old: str, new: str) -> None:
    text = p.read_text()
    assert old in text, (p, old)
    p.write_text(text.replace(old, new))


def test_edits_restart_the_host(tmp_path: Path) -> None:
    from ppm import toolchains
    from ppm.core.paths import toolchains_dir

    tcs = toolchains.resolve(["cargo", "cc", "zig", "esbuild", "pyinstaller"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("toolchains not provisioned: " + "; ".join(missing))
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    env = {"PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1",
           "PPM_CONFIG": str(tmp_path / "no-config.toml")}
    run_ppm("init", "demo", cwd=tmp_path, env=env)
    root = tmp_path / "demo"
    dev = Dev(root, env)
    try:
        dev.wait_for(r"^c: gcd\(1071, 462\) = 21")
        dev.wait_for(r"^python: ")
        assert not (root / "dist").exists()  # no bundle in the loop

        edit(root / "cmath/src/gcd.c", "return a;", "return a + 1;")  # C
        dev.wait_for(r"^c: error: cmath_gcd\(1071, 462\) returned 22, expected 21")

        edit(root / "core/src/lib.rs", "    a\n}", "    a + 1\n}")  # Rust
        dev.wait_for(r"^rust: error: core_fibonacci\(20\) returned 6766, expected 6765")

        before = dev.wait_for(r"^python: ") and [s for s in dev.seen if s.startswith("typescript:")][-1]
        edit(root / "ui/src/greeting.ts", "languages: ", "languages, namely: ")  # TypeScript
        after = dev.wait_for(r"^typescript: ui bundle")
        assert after != before

        edit(root / "cmath/src/gcd.c", "return a + 1;", "return a + 1")  # a build error...
        dev.wait_for(r"expected ';'|error:")
        dev.wait_for(r"fix it and save; waiting for a change")
        assert dev.proc.poll() is None  # ...does not end the loop
        edit(root / "cmath/src/gcd.c", "return a + 1", "return a;")  # ...and its fix restarts the host
        dev.wait_for(r"^c: gcd\(1071, 462\) = 21")
    finally:
        dev.stop()
    assert dev.proc.returncode is not None
