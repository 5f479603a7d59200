"""Benchmark ppm's patches against bsdiff4, xdelta3 -9 and `zstd --patch-from -19 --long` on real releases.

Run by hand (it reaches npm and PyPI, and needs Debian's `zstd`, `xdelta3` and `time`):

    python tests/benchmarks/bench_patch.py [--repeat 3] [--pairs esbuild-near,esbuild-arm64-near,...]

The pairs (PAIRS below) are x86-64 and arm64 ELF and x86-64 PE executables, Go (esbuild) and
Rust (uv, rollup's native module), near and far versions. Each tool runs in its own child process
under /usr/bin/time, which gives the wall-clock seconds of the whole command (reading and writing
files included) and the child's peak RSS; its CPU seconds come from getrusage around it.
The table is printed and saved to tests/benchmarks/results/patch.md. Downloads are cached under
$PPM_BENCH_CACHE (default ~/.cache/ppm-bench, outside the repository) and checked against the
registry's digest.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

CACHE = Path(os.environ.get("PPM_BENCH_CACHE", Path.home() / ".cache" / "ppm-bench"))
RESULTS = Path(__file__).parent / "results" / "patch.md"
REPO = Path(__file__).resolve().parents[2]

# name: (ecosystem, package, old version, new version, file): the file is a regex over the npm
# tarball's member names, or for PyPI the wheel platform tag's architecture (the binary is the
# wheel's .data/scripts/<package>).
PAIRS: dict[str, tuple[str, str, str, str, str]] = {
    # x86-64 ELF: Go (esbuild) and Rust (uv)
    "esbuild-near": ("npm", "@esbuild/linux-x64", "0.28.1", "0.28.2", r"package/bin/esbuild"),
    "esbuild-far": ("npm", "@esbuild/linux-x64", "0.27.7", "0.28.2", r"package/bin/esbuild"),
    "uv-near": ("pypi", "uv", "0.13.8", "0.13.9", "x86_64"),
    # arm64 ELF: Go (esbuild) and Rust (uv, rollup's native module)
    "esbuild-arm64-near": ("npm", "@esbuild/linux-arm64", "0.28.1", "0.28.2", r"package/bin/esbuild"),
    "esbuild-arm64-far": ("npm", "@esbuild/linux-arm64", "0.27.7", "0.28.2", r"package/bin/esbuild"),
    "uv-arm64-near": ("pypi", "uv", "0.13.8", "0.13.9", "aarch64"),
    "rollup-arm64-near": ("npm", "@rollup/rollup-linux-arm64-gnu", "4.68.7", "4.68.8", r"package/.*\.node"),
    "rollup-arm64-far": ("npm", "@rollup/rollup-linux-arm64-gnu", "4.68.0", "4.68.8", r"package/.*\.node"),
    # x86-64 PE: Go (esbuild.exe) and Rust (rollup's native module, a DLL)
    "esbuild-win64-near": ("npm", "@esbuild/win32-x64", "0.28.1", "0.28.2", r"package/esbuild\.exe"),
    "esbuild-win64-far": ("npm", "@esbuild/win32-x64", "0.27.7", "0.28.2", r"package/esbuild\.exe"),
    "rollup-win64-near": ("npm", "@rollup/rollup-win32-x64-msvc", "4.68.7", "4.68.8", r"package/.*\.node"),
}


# ---------------------------------------------------------------------------------------------- fetch


def _get(url: str) -> bytes:
    import httpx

    r = httpx.get(url, follow_redirects=True, timeout=120.0)
    r.raise_for_status()
    return r.content


def _get_json(url: str) -> dict:
    import json

    return json.loads(_get(url))


def fetch_npm_binary(package: str, version: str, member: str) -> Path:
    """The executable inside an npm package's tarball: the one file whose name matches ``member``."""
    dest = CACHE / "npm" / package.replace("/", "__") / version / re.sub(r"\W", "_", member)
    if dest.is_file():
        return dest
    meta = _get_json(f"https://registry.npmjs.org/{package}/{version}")
    data = _get(meta["dist"]["tarball"])
    algo, _, b64 = meta["dist"]["integrity"].partition("-")
    if hashlib.new(algo, data).digest() != base64.b64decode(b64):
        raise SystemExit(f"{package}@{version}: tarball does not match the registry's integrity")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        found = [m for m in tar.getmembers() if m.isfile() and re.fullmatch(member, m.name)]
        if len(found) != 1:
            raise SystemExit(f"{package}@{version}: {len(found)} members match {member!r}")
        blob = tar.extractfile(found[0]).read()  # type: ignore[union-attr]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(blob)
    return dest


def fetch_pypi_binary(package: str, version: str, arch: str) -> Path:
    """The executable inside a manylinux ``arch`` wheel's .data/scripts/ (how uv ships its binary)."""
    dest = CACHE / "pypi" / package / version / arch / "bin"
    if dest.is_file():
        return dest
    index = f"https://pypi.org/pypi/{package}/json"
    files = _get_json(index)["releases"].get(version)
    if not files:
        raise SystemExit(f"{package}=={version}: no such release on PyPI")
    wheels = [
        u for u in files
        if u["filename"].endswith(".whl") and re.search(rf"manylinux[^-]*{arch}", u["filename"]) and "musl" not in u["filename"]
    ]
    if not wheels:
        raise SystemExit(f"{package}=={version}: no manylinux {arch} wheel on PyPI")
    wheel = wheels[0]
    data = _get(urljoin(index, wheel["url"]))  # a mirror may answer with relative URLs
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise SystemExit(f"{wheel['filename']}: does not match PyPI's sha256")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        name = next(n for n in zf.namelist() if re.search(rf"\.data/scripts/{re.escape(package)}$", n))
        blob = zf.read(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(blob)
    return dest


def fetch_pair(name: str) -> tuple[Path, Path]:
    eco, package, old, new, member = PAIRS[name]
    fetch = fetch_npm_binary if eco == "npm" else fetch_pypi_binary
    return fetch(package, old, member), fetch(package, new, member)


def fetch_all() -> dict[str, tuple[Path, Path]]:
    return {name: fetch_pair(name) for name in PAIRS}


# ---------------------------------------------------------------------------------------------- run


@dataclass
class Run:
    size: int = 0
    create: list[float] = field(default_factory=list)  # CPU seconds (user + system)
    create_wall: list[float] = field(default_factory=list)
    create_rss: list[int] = field(default_factory=list)
    apply: list[float] = field(default_factory=list)
    apply_wall: list[float] = field(default_factory=list)
    apply_rss: list[int] = field(default_factory=list)
    base_rss: list[int] = field(default_factory=list)  # ppm: peak RSS of the interpreter with make_patch's modules imported
    note: str = ""
    needs: tuple[int, int] = (0, 0)  # ppm: the memory it declares for making and for applying the patch (bytes)


PY = sys.executable


# The modules make_patch imports only when it needs them (the rest come with ppm.delta): the
# baseline process imports those the make process ended up with, so that the memory creation adds
# is measured over the same interpreter with the same modules loaded.
LAZY_MODULES = ("hdiffpatch", "numpy", "backports.zstd", "compression.zstd")


def _tools(old: Path, new: Path, patch: Path, out: Path, imported: Path) -> dict[str, tuple[list[str], list[str]]]:
    """tool name -> (create argv, apply argv), each a whole process so time and RSS are its own.
    ppm's create writes the LAZY_MODULES it imported to ``imported`` (after the patch is made)."""
    o, n, p, r = map(str, (old, new, patch, out))
    return {
        "ppm": (
            [PY, "-c", "import sys; from pathlib import Path; from ppm.delta import make_patch; "
             "make_patch(*map(Path, sys.argv[1:4])); "
             f"Path(sys.argv[4]).write_text(' '.join(m for m in {LAZY_MODULES!r} if m in sys.modules))", o, n, p, str(imported)],
            # `ppm patch apply`, as the installed console script runs it (ppm/cli/patchfast.py)
            [PY, "-c", "import sys; from ppm.__main__ import main; sys.argv[0] = 'ppm'; main()", "patch", "apply", o, p, "-o", r],
        ),
        "bsdiff4": (
            [PY, "-c", "import sys, bsdiff4; bsdiff4.file_diff(*sys.argv[1:4])", o, n, p],
            [PY, "-c", "import sys, bsdiff4; bsdiff4.file_patch(*sys.argv[1:4])", o, r, p],
        ),
        "xdelta3 -9": (
            ["xdelta3", "-9", "-e", "-f", "-s", o, n, p],
            ["xdelta3", "-d", "-f", "-s", o, p, r],
        ),
        "zstd -19 --patch-from": (
            ["zstd", "-q", "-f", "-19", "--long", "--single-thread", f"--patch-from={o}", n, "-o", p],
            ["zstd", "-q", "-f", "-d", "--long=31", f"--patch-from={o}", p, "-o", r],
        ),
    }


def _timed(argv: list[str]) -> tuple[float, float, int]:
    """CPU seconds (user + system), wall seconds and peak RSS (bytes) of one child process: the peak
    and the wall time by GNU time, the CPU by getrusage(RUSAGE_CHILDREN) around it (microseconds:
    GNU time prints hundredths, too coarse for applying a 2 MB patch in 0.03 s; this includes
    GNU time's own start, under a millisecond, alike for every tool)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", tf.name, *argv], env=env, capture_output=True, text=True, check=False
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
        wall, kib = tf.read().split()[-2:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, float(wall), int(kib) * 1024


def bench_pair(name: str, repeat: int) -> tuple[dict[str, Run], int, int]:
    old, new = fetch_pair(name)
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="ppm-bench-") as tmp:
        for i in range(repeat):
            for tool, (create, apply) in _tools(old, new, Path(tmp, "patch"), Path(tmp, "out"), Path(tmp, "imported")).items():
                run = runs.setdefault(tool, Run())
                print(f"  {name} round {i + 1}/{repeat}: {tool}", file=sys.stderr, flush=True)
                cpu, wall, rss = _timed(create)
                run.create.append(cpu)
                run.create_wall.append(wall)
                run.create_rss.append(rss)
                run.size = Path(tmp, "patch").stat().st_size
                if tool == "ppm":
                    sys.path.insert(0, str(REPO))
                    from ppm.delta import creation_memory_need, patch_info

                    info = patch_info(Path(tmp, "patch"))
                    run.note = f"{info.transform} (format {info.format_version})"
                    run.needs = (creation_memory_need(info.method, info.old_size, info.new_size), info.memory_need)
                    modules = ", ".join(["ppm.delta", *Path(tmp, "imported").read_text().split()])
                    run.base_rss.append(_timed([PY, "-c", f"import sys; from pathlib import Path; import {modules}"])[2])
                cpu, wall, rss = _timed(apply)
                run.apply.append(cpu)
                run.apply_wall.append(wall)
                run.apply_rss.append(rss)
                if Path(tmp, "out").read_bytes() != new.read_bytes():
                    raise SystemExit(f"{tool} did not reproduce {new}")
                Path(tmp, "out").unlink()
    sys.path.insert(0, str(REPO))
    from ppm.delta import compressed_size

    return runs, new.stat().st_size, compressed_size(new, level=19)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


_LOAD_AT_START = _load()


def _mb(n: float) -> str:
    return f"{n / 1e6:.3f}"


def _within(rss: int, need: int) -> str:
    """Whether a measured peak RSS stays within the memory ppm declared (creation_memory_need, the
    patch header's memory_need): "yes (peak / declared)", or NO when the declared figure is not an upper bound."""
    return f"{'yes' if rss <= need else 'NO'} ({rss / need:.2f})"


def render(results: dict[str, tuple[dict[str, Run], int, int]], repeat: int, argv: list[str]) -> str:
    import math

    med = statistics.median
    lines = [
        "# Patch benchmark",
        "",
        f"`python tests/benchmarks/bench_patch.py {' '.join(argv)}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()} at `{PY}`, load average {_load()} when the table was written, "
        f"{_LOAD_AT_START} at the start); medians of {repeat} runs, each tool a "
        "separate process under GNU time: CPU seconds (user + system, all threads; getrusage, to the millisecond), wall seconds in "
        "brackets, peak RSS. The machine is shared with other builds, so wall times swing with its load; the "
        "time ratios are of CPU seconds. Sizes in MB (10^6 bytes). "
        "ppm creates with `make_patch` in `python -c` and applies with `ppm patch apply` (the console script's "
        "entry point, `python -c` as bsdiff4's apply is); its times include its sha256 checks, its round-trip "
        "verification (make) and fsync (apply); its modules are byte-compiled first, as an installed ppm's are. "
        "Ratios are ppm / peer: below 1 means ppm is smaller or faster. "
        "Goals against bsdiff4: size <= 0.85 on every pair and geometric mean <= 0.80, create and apply "
        "time ratios <= 1; ppm's creation RSS against 2 x (old + new) in the summary. "
        "Creation memory in the summary: the whole process's peak RSS / 2(old + new), and the memory creation adds, "
        "(peak RSS of ppm's create - peak RSS of `python -c \"import ppm.delta, ...\"` importing the same modules "
        "make_patch did, measured in the same round) / (old + new); the goal is the second at most 2. "
        "The last column: the highest peak RSS of ppm's make and apply over the memory ppm declares for them "
        "(creation_memory_need; the patch header's memory_need), which must be upper bounds.",
        "",
        "| pair | tool | patch MB | create CPU s [wall] | create RSS MB | apply CPU s [wall] | apply RSS MB "
        "| size ratio | create ratio | apply ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    summary = []
    for name, (runs, new_size, full) in results.items():
        eco, package, old_v, new_v, member = PAIRS[name]
        label = f"{package} {old_v}→{new_v}" + (f" ({member})" if eco == "pypi" else "")
        p = runs["ppm"]
        for tool, r in runs.items():
            ratios = ["", "", ""] if tool == "ppm" else [
                f"{p.size / r.size:.3f}", f"{med(p.create) / med(r.create):.2f}", f"{med(p.apply) / max(med(r.apply), 1e-3):.2f}",
            ]
            lines.append(
                f"| {label} | {tool} | {_mb(r.size)} | {med(r.create):.3f} [{med(r.create_wall):.2f}] | {med(r.create_rss) / 1e6:.0f} | "
                f"{med(r.apply):.3f} [{med(r.apply_wall):.2f}] | {med(r.apply_rss) / 1e6:.0f} | " + " | ".join(ratios) + " |"
            )
        lines.append(f"| {label} | (new file; zstd -19 of it) | {_mb(new_size)}; {_mb(full)} | | | | | | | |")
        b = runs["bsdiff4"]
        old_size = fetch_pair(name)[0].stat().st_size
        summary.append((name, label, p.size / b.size, med(p.create) / med(b.create), med(p.apply) / max(med(b.apply), 1e-3),
                        med(p.create_rss) / (2 * (old_size + new_size)), med(p.create_rss) / med(b.create_rss), runs["ppm"].note,
                        (med(p.create_rss) - med(p.base_rss)) / (old_size + new_size), med(p.base_rss),
                        _within(max(p.create_rss), p.needs[0]) + ", " + _within(max(p.apply_rss), p.needs[1])))
    lines += [
        "",
        "## ppm against bsdiff4",
        "",
        "| pair | ppm transform | size ratio | create CPU ratio | apply CPU ratio | create RSS / 2(old+new) "
        "| baseline RSS MB | (create RSS - baseline) / (old+new) | create RSS / bsdiff4's | peak RSS within the declared need (make, apply) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for _, label, size, create, apply_, rss2, rssb, note, added, base, within in summary:
        lines.append(
            f"| {label} | {note} | {size:.3f} | {create:.2f} | {apply_:.2f} | {rss2:.2f} | {base / 1e6:.0f} | {added:.2f} | {rssb:.2f} | {within} |"
        )
    geo = math.exp(sum(math.log(s[2]) for s in summary) / len(summary))
    lines.append(f"| **geometric mean** | | **{geo:.3f}** | | | | | | | |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- PyInstaller


_MEI_COOKIE = b"MEI\x0c\x0b\x0a\x0b\x0e"


def _carchive(data: bytes) -> tuple[int, list[tuple[str, str, bytes, bytes]]]:
    """A PyInstaller one-file bundle's archive: (where it starts, [(name, type, stored bytes, raw bytes)])."""
    import struct
    import zlib

    pos = data.rfind(_MEI_COOKIE)
    if pos < 0:
        raise SystemExit("not a PyInstaller one-file bundle (no MEI cookie)")
    _, pkg_len, toc, toc_len, _ = struct.unpack_from("!8sIIII", data, pos)
    start = pos + 88 - pkg_len
    out, p = [], start + toc
    while p < start + toc + toc_len:
        size, off, stored_len, raw_len, compressed, kind = struct.unpack_from("!IIIIBc", data, p)
        stored = data[start + off : start + off + stored_len]
        raw = zlib.decompress(stored) if compressed == 1 else stored
        if len(raw) != raw_len:
            raise SystemExit("archive entry does not decompress to its recorded size")
        out.append((data[p + 18 : p + size].rstrip(b"\0").decode(), kind.decode(), stored, raw))
        p += size
    return start, out


def bundle_report(old: Path, new: Path) -> str:
    """What a patch between two PyInstaller bundles carries, against patching their archives uncompressed
    and patching each changed entry on its own."""
    sys.path.insert(0, str(REPO))
    from ppm.delta import make_patch

    a, b = old.read_bytes(), new.read_bytes()
    (a_start, a_toc), (b_start, b_toc) = _carchive(a), _carchive(b)
    before = {name: (stored, raw) for name, _, stored, raw in a_toc}
    changed = [(name, kind, stored, raw) for name, kind, stored, raw in b_toc if before.get(name, (b"", None))[1] != raw]

    with tempfile.TemporaryDirectory(prefix="ppm-bundle-") as tmp:

        def size(o: bytes, n: bytes, **kw: object) -> str:
            Path(tmp, "o").write_bytes(o)
            Path(tmp, "n").write_bytes(n)
            info = make_patch(Path(tmp, "o"), Path(tmp, "n"), Path(tmp, "p"), **kw)  # type: ignore[arg-type]
            return f"{info.patch_size} ({info.transform})"

        def flat(data: bytes, start: int, toc: list[tuple[str, str, bytes, bytes]]) -> bytes:
            return data[:start] + b"".join(name.encode() + b"\0" + raw for name, _, _, raw in toc)

        lines = [
            f"`python tests/benchmarks/bench_patch.py --pyinstaller {old.name} {new.name}`: {len(a)} → {len(b)} bytes, "
            f"{len(b_toc)} archive entries, {len(changed)} changed",
            "",
            "| what | bytes |",
            "| --- | ---: |",
        ]
        for name, kind, stored, raw in changed:
            lines.append(f"| changed entry `{name}` ({kind}): stored (zlib) / raw | {len(stored)} / {len(raw)} |")
        lines.append(f"| ppm patch of the bundle (auto) | {size(a, b)} |")
        lines.append(f"| ppm patch of the bundle, no transform | {size(a, b, transform=False)} |")
        uncompressed = size(flat(a, a_start, a_toc), flat(b, b_start, b_toc))
        lines.append(f"| ppm patch of the archives uncompressed (bootloader + raw entries) | {uncompressed} |")
        import zlib

        compressed = [(stored, raw) for _, _, stored, raw in b_toc if stored != raw]
        same = sum(zlib.compress(raw, 9) == stored for stored, raw in compressed)
        lines.append(f"| compressed entries this Python's zlib (level 9) reproduces bit for bit | {same} of {len(compressed)} |")
        for name, _, _, raw in changed:
            was = before.get(name, (b"", b""))[1]
            lines.append(f"| per-component patch of `{name}` (raw, auto) | {size(was, raw)} |")
            lines.append(f"| per-component patch of `{name}` (raw, no transform) | {size(was, raw, transform=False)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from: {', '.join(PAIRS)}")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.relative_to(REPO)}")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter every tool's Python process runs on (it needs bsdiff4 and ppm's dependencies; "
                    "ppm itself is this checkout, by PYTHONPATH). Give a venv where ppm is installed normally: an "
                    "editable install's import hook loads pathlib, re and more into every process of its venv, which "
                    "hides what ppm's own imports cost (default: this interpreter)")
    ap.add_argument("--pyinstaller", nargs=2, type=Path, metavar=("OLD", "NEW"),
                    help="instead: what a patch between two PyInstaller one-file bundles carries (printed only)")
    args = ap.parse_args()
    global PY
    PY = args.python
    if args.pyinstaller:
        print(bundle_report(*args.pyinstaller))
        return
    for tool in ("zstd", "xdelta3", "/usr/bin/time"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install zstd xdelta3 time")
    # Byte-compile ppm first, as installing it does: with PYTHONDONTWRITEBYTECODE set (as it is on
    # the machine these tables come from) every run would otherwise compile ppm.delta and
    # ppm.exe_transform again, about 12 ms that an installed ppm never spends.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "ppm")], check=True)
    results = {}
    for name in args.pairs.split(","):
        print(f"{name}: fetching", file=sys.stderr, flush=True)
        results[name] = bench_pair(name, args.repeat)
        if not args.no_save:  # after each pair, so a long run that is stopped still leaves its results
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(render(results, args.repeat, sys.argv[1:]))
    print(render(results, args.repeat, sys.argv[1:]))


if __name__ == "__main__":
    main()
