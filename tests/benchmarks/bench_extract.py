"""Extraction and verification, the hot path of `ppm sync`, each ratio measured in one run:

  1. Unpacking a package-shaped .tar.gz (4000 files, ~60 MB of mixed text and binary) with
     ppm's streamed, bounded extractor (lockfile/extract.py) vs GNU `tar -xzf` (medians of 5).
  2. Verifying a stored artifact before use (ppm.core.hashing, streamed sha512) vs
     `sha512sum` on the same 60 MB file (medians of 5).
  3. Peak memory (max RSS of a child process) unpacking a 2 MB tarball that expands to 2 GiB
     (a decompression bomb) under the default limits, vs the size it claims; the run before
     this change read each member whole (2.1 GB RSS, issue 7).
  4. Peak memory hashing a 1 MB Go module zip that inflates to 1 GiB (h1 of its members).

Run: python tests/benchmarks/bench_extract.py      Writes tests/benchmarks/results/extract.md."""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))


def median_time(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def package_tgz(path: Path) -> None:
    rnd = random.Random(7)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for i in range(4000):
            if i % 4 == 0:
                data = rnd.randbytes(20_000)
            else:
                vocab = ["const", "function", "return", "export", "import", "x", "y", "=>", "{", "}"]
                words = [rnd.choice(vocab) for _ in range(2500)]
                data = " ".join(words).encode()
            info = tarfile.TarInfo(f"package/lib/d{i % 40}/f{i}.js")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(raw.getvalue(), 6))


def child_rss(code: str) -> tuple[int, float, str]:
    """Max RSS (KiB) and seconds of a child running `code`, and the first line it printed."""
    t = time.perf_counter()
    code += "\nimport resource, sys\nprint('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    rss = int(p.stderr.rsplit("RSS ", 1)[1].split()[0])
    return rss, time.perf_counter() - t, p.stdout.strip().splitlines()[0][:120]


def main() -> None:
    from ppm.core import hashing
    from ppm.lockfile.extract import extract_tgz

    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    rows = []
    try:
        tgz = work / "pkg.tgz"
        package_tgz(tgz)
        with tarfile.open(tgz) as t:
            size = sum(1 for _ in t)
        out = work / "out"

        def ppm_x() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            extract_tgz(tgz, out, strip=1, what="bench")

        def tar_x() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            subprocess.run(["tar", "-xzf", str(tgz), "-C", str(out), "--strip-components=1"], check=True)

        a, b = median_time(ppm_x), median_time(tar_x)
        packed = tgz.stat().st_size / 1e6
        rows.append(f"| unpack {size} members, {packed:.1f} MB packed | ppm {a:.3f} s | tar -xzf {b:.3f} s | {a / b:.2f}x |")

        raw = work / "raw.bin"
        raw.write_bytes(os.urandom(60 << 20))
        like = "sha512-" + "A" * 86 + "=="
        a = median_time(lambda: hashing.of_file(raw, like))
        b = median_time(lambda: subprocess.run(["sha512sum", str(raw)], check=True, capture_output=True))
        rows.append(f"| verify a 60 MB artifact (sha512) | ppm {a:.3f} s | sha512sum {b:.3f} s | {a / b:.2f}x |")

        bomb = work / "bomb.tgz"

        class Zeros(io.RawIOBase):
            def __init__(self, n: int) -> None:
                self.left = n

            def readable(self) -> bool:
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        with gzip.open(bomb, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
            info = tarfile.TarInfo("package/zeros.bin")
            info.size = 2 << 30
            t.addfile(info, io.BufferedReader(Zeros(info.size), 1 << 20))
        code = ("from pathlib import Path; import tempfile\nfrom ppm.lockfile.extract import extract_tgz\n"
                f"d = Path(tempfile.mkdtemp(dir={str(work)!r}))\n"
                f"try:\n    extract_tgz(Path({str(bomb)!r}), d, strip=1, what='bomb'); print('extracted')\n"
                "except Exception as e:\n    print(e)\n")
        rss, secs, said = child_rss(code)
        mb = bomb.stat().st_size / 1e6
        rows.append(f"| 2 GiB bomb in a {mb:.1f} MB tarball | max RSS {rss / 1024:.0f} MiB, {secs:.1f} s | "
                    f"before: 2.1 GB RSS, written whole | {said} |")

        gz = work / "mod.zip"
        with zipfile.ZipFile(gz, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
                z.open("example.com/m@v1.0.0/zeros.go", "w") as f:
            for _ in range(1024):
                f.write(bytes(1 << 20))
        code = ("from pathlib import Path\nfrom ppm.lockfile.registries.go import hash_zip\n"
                f"try:\n    print(hash_zip(Path({str(gz)!r}).read_bytes()))\nexcept Exception as e:\n    print(e)\n")
        rss, secs, said = child_rss(code)
        rows.append(f"| Go zip, {gz.stat().st_size / 1e6:.1f} MB → 1 GiB, h1 while locking | max RSS {rss / 1024:.0f} MiB, "
                    f"{secs:.1f} s | before: 1.35 GB RSS | {said} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = ("# Extraction and verification (`python tests/benchmarks/bench_extract.py`)\n\n"
            "| case | ppm | peer / before | ratio / outcome |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "extract.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
