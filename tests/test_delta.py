"""ppm.delta and `ppm patch`: round trips on small local binaries, and every way a patch can be refused."""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from helpers import run_ppm, run_python
from ppm import delta, hdiff
from ppm.delta import PatchError, PatchMemoryError, apply_patch, make_patch, patch_info

pytest.importorskip("hdiffpatch")
pytest.importorskip("backports.zstd") if sys.version_info < (3, 14) else None

C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
static const char *greeting = "%(greeting)s";
static int table[%(n)d] = {%(table)s};
int helper_%(tag)s(int x) { return x * %(mul)d + table[x %% %(n)d]; }
int main(int argc, char **argv) {
    long total = 0;
    for (int i = 0; i < argc * 1000; i++) total += helper_%(tag)s(i);
    printf("%%s %%ld %%zu\n", greeting, total, strlen(argv[0]));
    return 0;
}
"""


def _c_source(version: int) -> str:
    rng = random.Random(7)
    n = 4000
    table = [rng.randrange(1 << 30) for _ in range(n)]
    for i in range(0, n, 97 * version):  # a release changes a few entries and one string
        table[i] ^= version
    return C_PROGRAM % {
        "greeting": f"hello from release {version}",
        "n": n,
        "table": ", ".join(map(str, table)),
        "tag": f"v{version}",
        "mul": 3 + version,
    }


def _synthetic(version: int) -> bytes:
    """Executable-like data: a shared body with a few edits, an insertion and shifted pointers."""
    rng = random.Random(1)
    words = [rng.randrange(1 << 32) for _ in range(60_000)]
    if version > 1:
        words[1000:1000] = [rng.randrange(1 << 32) for _ in range(300)]
        words = [w + 64 if i % 11 == 0 else w for i, w in enumerate(words)]
    return struct.pack(f"<{len(words)}I", *words)


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two consecutive 'releases': real ELF executables when gcc is here, synthetic data if not."""
    d = tmp_path_factory.mktemp("releases")
    old, new = d / "app-1", d / "app-2"
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:
        for version, out in ((1, old), (2, new)):
            src = d / f"app-{version}.c"
            src.write_text(_c_source(version))
            subprocess.run([cc, "-O2", "-o", str(out), str(src)], check=True, capture_output=True)
    else:
        old.write_bytes(_synthetic(1))
        new.write_bytes(_synthetic(2))
        old.chmod(0o755)
        new.chmod(0o755)
    assert old.read_bytes() != new.read_bytes()
    return old, new


@pytest.fixture(scope="module")
def hdiff_patch(releases: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    old, new = releases
    p = tmp_path_factory.mktemp("patch") / "app.patch"
    make_patch(old, new, p, method="hdiff")
    return p


@pytest.mark.parametrize("method", ["auto", "hdiff", "zstd", "best"])
def test_round_trip(releases: tuple[Path, Path], tmp_path: Path, method: str) -> None:
    old, new = releases
    patch, out = tmp_path / "p", tmp_path / "out"
    info = make_patch(old, new, patch, method=method, level=9)
    assert info.method == ("zstd" if method == "zstd" else "hdiff" if method in ("auto", "hdiff") else info.method)
    assert patch.stat().st_size == info.patch_size < new.stat().st_size
    apply_patch(old, patch, out)
    assert out.read_bytes() == new.read_bytes()
    assert os.stat(out).st_mode & 0o777 == os.stat(old).st_mode & 0o777
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_best_is_the_smaller(releases: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = releases
    sizes = {m: make_patch(old, new, tmp_path / m, method=m).patch_size for m in ("hdiff", "zstd", "best")}
    assert sizes["best"] == min(sizes["hdiff"], sizes["zstd"])


def test_info_describes_the_pair(releases: tuple[Path, Path], hdiff_patch: Path) -> None:
    import hashlib

    old, new = releases
    info = patch_info(hdiff_patch)
    assert info.method == "hdiff" and info.format_version == delta.FORMAT_VERSION
    assert (info.old_size, info.new_size) == (old.stat().st_size, new.stat().st_size)
    assert info.old_sha256 == hashlib.sha256(old.read_bytes()).hexdigest()
    assert info.new_sha256 == hashlib.sha256(new.read_bytes()).hexdigest()
    assert info.memory_need == delta.decoder_memory_need(
        "hdiff", info.old_size, info.new_size, info.payload_size, info.raw_size, descriptor_size=info.descriptor_size
    )
    assert info.memory_need > info.old_size + info.new_size
    assert info.to_dict()["patch_size"] == hdiff_patch.stat().st_size


@pytest.mark.parametrize("method", ["hdiff", "zstd"])
@pytest.mark.parametrize("case", ["same", "empty-old", "empty-new", "both-empty"])
def test_edge_cases(tmp_path: Path, method: str, case: str) -> None:
    body = _synthetic(1)[:50_000]
    old_b, new_b = {
        "same": (body, body), "empty-old": (b"", body), "empty-new": (body, b""), "both-empty": (b"", b""),
    }[case]
    old, new, patch, out = tmp_path / "old", tmp_path / "new", tmp_path / "p", tmp_path / "out"
    old.write_bytes(old_b)
    new.write_bytes(new_b)
    make_patch(old, new, patch, method=method)
    apply_patch(old, patch, out)
    assert out.read_bytes() == new_b


def _expect_refusal(old: Path, patch: Path, out: Path, match: str, **kw: object) -> None:
    out.write_bytes(b"previous version")
    with pytest.raises(PatchError, match=match):
        apply_patch(old, patch, out, **kw)  # type: ignore[arg-type]
    assert out.read_bytes() == b"previous version", "a refused patch must leave the output untouched"
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".part")] == []


def test_truncated_patch(releases: tuple[Path, Path], hdiff_patch: Path, tmp_path: Path) -> None:
    old, _ = releases
    data = hdiff_patch.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, delta.HEADER_SIZE + 3, delta.HEADER_SIZE - 1, 10):
        p = tmp_path / f"cut{cut}"
        p.write_bytes(data[:cut])
        _expect_refusal(old, p, tmp_path / "out", "truncated")
    (tmp_path / "empty").write_bytes(b"")
    _expect_refusal(old, tmp_path / "empty", tmp_path / "out", "not a ppm patch")
    (tmp_path / "long").write_bytes(data + b"x")
    _expect_refusal(old, tmp_path / "long", tmp_path / "out", "trailing data")


def test_corrupt_payload(releases: tuple[Path, Path], hdiff_patch: Path, tmp_path: Path) -> None:
    old, _ = releases
    data = bytearray(hdiff_patch.read_bytes())
    for i, pos in enumerate((delta.HEADER_SIZE + 20, len(data) // 2, len(data) - 2)):
        bad = bytearray(data)
        bad[pos] ^= 0x55
        p = tmp_path / f"bad{i}"
        p.write_bytes(bad)
        _expect_refusal(old, p, tmp_path / "out", "corrupt|does not match")


def test_corrupt_header_and_other_files(releases: tuple[Path, Path], hdiff_patch: Path, tmp_path: Path) -> None:
    old, _ = releases
    data = bytearray(hdiff_patch.read_bytes())
    bad = bytearray(data)
    bad[60] ^= 1  # inside the new file's sha256
    (tmp_path / "hdr").write_bytes(bad)
    _expect_refusal(old, tmp_path / "hdr", tmp_path / "out", "checksum")
    (tmp_path / "elf").write_bytes(old.read_bytes())
    _expect_refusal(old, tmp_path / "elf", tmp_path / "out", "not a ppm patch")
    future = bytearray(data)
    future[8] = delta.FORMAT_VERSION + 1
    future[124:128] = struct.pack("<I", zlib.crc32(bytes(future[:124])))
    (tmp_path / "future").write_bytes(future)
    with pytest.raises(PatchError, match="format version") as e:
        patch_info(tmp_path / "future")
    assert e.value.hint and "full file" in e.value.hint


def test_wrong_old_file(releases: tuple[Path, Path], hdiff_patch: Path, tmp_path: Path) -> None:
    old, new = releases
    _expect_refusal(new, hdiff_patch, tmp_path / "out", "not the file this patch applies to")
    same_size = tmp_path / "same-size"
    b = bytearray(old.read_bytes())
    b[len(b) // 3] ^= 1
    same_size.write_bytes(b)
    _expect_refusal(same_size, hdiff_patch, tmp_path / "out", "not the file this patch applies to")


def test_memory_limit_refused_before_decoding(hdiff_patch: Path, tmp_path: Path) -> None:
    need = patch_info(hdiff_patch).memory_need
    # the old file does not even exist: the refusal comes from the header alone
    _expect_refusal(tmp_path / "missing", hdiff_patch, tmp_path / "out", "more than", max_memory=need - 1)
    with pytest.raises(PatchMemoryError):
        apply_patch(tmp_path / "missing", hdiff_patch, tmp_path / "out", max_memory=need - 1)


def test_creation_memory_bounded(releases: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = releases
    with pytest.raises(PatchMemoryError, match="needs about"):
        make_patch(old, new, tmp_path / "p", max_memory=1 << 20)
    assert not (tmp_path / "p").exists()
    with pytest.raises(PatchError, match="unknown patch method"):
        make_patch(old, new, tmp_path / "p", method="bsdiff")


def test_creation_estimates_grow_with_the_input() -> None:
    small = delta.creation_memory_need("hdiff", 10 << 20, 10 << 20)
    big = delta.creation_memory_need("hdiff", 200 << 20, 200 << 20)
    assert 10 << 20 < small < big
    assert delta.decoder_memory_need("zstd", 100, 100, 10, 100) < delta.decoder_memory_need("zstd", 10**6, 10**6, 10, 10**6)


# The child's own peak: VmHWM belongs to the memory map exec gave it, while ru_maxrss carries over
# the forking parent's high-water mark (pytest's, after bigger tests: 167 MB reported for 40).
_PEAK = ("print(next(int(line.split()[1]) * 1024 for line in open('/proc/self/status') "
         "if line.startswith('VmHWM:')))")


def _child_peak(code: str, *args: object, native: bool = True) -> list[int]:
    """Run ``code`` in a fresh interpreter (argv: ``args``); its printed integers, then its peak RSS in bytes."""
    p = run_python(f"{code}\n{_PEAK}", *args, env=None if native else {"PPM_NO_NATIVE": "1"})
    assert p.returncode == 0, p.stderr
    return [int(x) for x in p.stdout.split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the peak is read from /proc/self/status (Linux)")
@pytest.mark.parametrize("windowed", [False, True])
def test_declared_memory_bounds_the_real_peak(releases: tuple[Path, Path], tmp_path: Path, windowed: bool) -> None:
    """creation_memory_need and the header's memory_need are upper bounds of the whole process's peak
    RSS (an updater refuses a patch by them): making, matched whole and in windows, and applying, with
    ppm's C modules and without them. On real releases the bench checks the same (bench_patch.py)."""
    old, new = releases
    make = (
        "import sys; from pathlib import Path; from ppm import delta, hdiff\n"
        f"hdiff._WINDOW_FROM = {0 if windowed else 1 << 62}\n"
        f"hdiff._WINDOW_SMALL = {(0, 0.1, 1.5) if windowed else (1 << 62, 0.1, 1.5)}\n"
        "o, n, p = map(Path, sys.argv[1:4]); info = delta.make_patch(o, n, p)\n"
        "print(delta.creation_memory_need(info.method, info.old_size, info.new_size))\n"
        "print(int(hdiff.windows(info.old_size, info.new_size) is not None))"
    )
    need, used_windows, peak = _child_peak(make, old, new, tmp_path / "p")
    assert used_windows == windowed
    assert 0 < peak <= need
    apply = (  # without the C modules: the hdiffpatch package decodes, numpy or the Python loop transforms
        "import os, sys; from pathlib import Path; from ppm import delta, hdiff\n"
        "hdiff._hpatch = None if os.environ.get('PPM_NO_NATIVE') == '1' else hdiff._hpatch\n"
        "delta.apply_patch(*map(Path, sys.argv[1:4]))"
    )
    info = patch_info(tmp_path / "p")
    for native in (True, False):
        (peak,) = _child_peak(apply, old, tmp_path / "p", tmp_path / "out", native=native)
        assert 0 < peak <= info.memory_need
        assert (tmp_path / "out").read_bytes() == new.read_bytes()


def _ppm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_ppm(*args, cwd=cwd, env={"CI": "1"}, check=False, timeout=300)


def test_cli(releases: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = releases
    r = _ppm("patch", "make", str(old), str(new), "-o", "app.patch", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "by hdiff" in r.stdout and "% of it" in r.stdout and "zstd -19" in r.stdout

    r = _ppm("patch", "info", "app.patch", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["method"] == "hdiff" and info["new_size"] == new.stat().st_size
    assert "decoding" in _ppm("patch", "info", "app.patch", cwd=tmp_path).stdout

    r = _ppm("patch", "apply", str(old), "app.patch", "-o", "app-2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "app-2").read_bytes() == new.read_bytes()

    r = _ppm("patch", "apply", str(new), "app.patch", "-o", "wrong", cwd=tmp_path)
    assert r.returncode != 0 and "not the file this patch applies to" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "wrong").exists()

    r = _ppm("patch", "apply", str(old), "app.patch", "-o", "x", "--max-memory", "1M", cwd=tmp_path)
    assert r.returncode != 0 and "more than" in r.stderr

    r = _ppm("patch", "make", str(old), str(new), "-o", "z.patch", "--method", "zstd", "--no-compare", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["method"] == "zstd"


def test_cli_apply_answers_without_typer_and_defers_what_it_does_not_parse(releases: tuple[Path, Path], tmp_path: Path) -> None:
    """`ppm patch apply` is answered before typer is imported (ppm/cli/patchfast.py), in every
    option form typer accepts; what the fast path does not parse gets typer's own answer."""
    from ppm.cli import patchfast

    old, new = releases
    make_patch(old, new, tmp_path / "app.patch")
    for form in (["-o", "a"], ["--output", "b"], ["--output=c"], ["-od"], ["--max-memory", "2G", "-o", "e"], ["--max-memory=2g", "-o", "f"]):
        parsed = patchfast._parse([str(old), "app.patch", *form])
        assert parsed is not None and parsed[2] == form[-1].removeprefix("--output=").removeprefix("-o"), form
    assert patchfast._parse(["-o", "g", str(old), "app.patch"]) == (str(old), "app.patch", "g", None)
    assert patchfast._parse([str(old), "app.patch", "-o", "h", "--max-memory", "1.5g"]) == (str(old), "app.patch", "h", 3 << 29)
    for deferred in (["--help"], [str(old), "app.patch"], [str(old), "-o", "x"], [str(old), "app.patch", "-o"],
                     [str(old), "app.patch", "-o", "x", "--max-memory", "lots"], [str(old), "app.patch", "-o", "x", "--verbose"]):
        assert patchfast._parse(deferred) is None, deferred

    # a real process: the same output as the typer command, and typer never imported
    probe = (
        "import sys; from ppm.__main__ import _main; code = _main(sys.argv[1:]); "
        "print('typer imported' if 'typer' in sys.modules else 'no typer'); sys.exit(code)"
    )
    r = run_python(probe, "patch", "apply", old, "app.patch", "-oout", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("wrote out in ") and r.stdout.rstrip().endswith("no typer")
    assert (tmp_path / "out").read_bytes() == new.read_bytes()

    # usage errors are typer's: exit 2 with its message, nothing written
    r = _ppm("patch", "apply", str(old), "app.patch", "-o", "y", "--max-memory", "lots", cwd=tmp_path)
    assert r.returncode == 2 and "not a size" in r.stderr and not (tmp_path / "y").exists()
    r = _ppm("patch", "apply", str(old), "app.patch", cwd=tmp_path)
    assert r.returncode == 2 and "--output" in r.stderr
    r = _ppm("patch", "apply", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "Apply PATCH to OLD" in r.stdout


# ------------------------------------------------------------------------------------- windows


def _moved_release(rng: random.Random, old: bytes) -> bytes:
    """A new release of ``old``: blocks edited, inserted, deleted and one moved far away."""
    blocks = [bytearray(old[i : i + 4096]) for i in range(0, len(old), 4096)]
    for _ in range(len(blocks) // 8):
        b = blocks[rng.randrange(len(blocks))]
        b[rng.randrange(len(b))] ^= 0xFF
    blocks.insert(rng.randrange(len(blocks)), bytearray(rng.randbytes(3000)))
    del blocks[rng.randrange(len(blocks))]
    blocks.append(blocks.pop(3))  # matched from the far end of the old file: outside its window
    return b"".join(blocks)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windowed_diff_is_one_ordinary_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    import hdiffpatch

    rng = random.Random(seed)
    old = b"".join(rng.randbytes(64) * rng.randrange(1, 4) for _ in range(3000))  # some repetition, as code has
    new = _moved_release(rng, old)
    monkeypatch.setattr(hdiff, "_WINDOW_FROM", 0)
    width, piece = hdiff.windows(len(old), len(new)) or (0, 0)
    assert 0 < piece < width < len(old)  # several windows, each narrower than the old file
    raw = b"".join(delta._diff("hdiff", old, new))
    # HDiffPatch's own applier (what every ppm that reads hdiff patches uses) rebuilds the new file
    assert hdiffpatch.apply(old, raw) == new
    whole = hdiffpatch.diff(old, new, "none", validate=False)
    assert len(raw) < len(new) // 2 and len(raw) < 3 * len(whole)
    # and through make_patch / apply_patch: a format 1 hdiff patch like any other
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    info = make_patch(tmp_path / "old", tmp_path / "new", tmp_path / "p", method="hdiff")
    assert (info.method, info.format_version) == ("hdiff", 1)
    apply_patch(tmp_path / "old", tmp_path / "p", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == new


def test_window_shapes_by_size() -> None:
    """Files from 4 MiB are matched in windows 0.15 x (old + new) wide, three times a piece; from 1 MiB
    in narrower ones (0.1, 1.5 times a piece: the whole-file matcher alone is more than 2 (old + new)
    there); smaller files whole."""
    mib = 1 << 20
    assert hdiff.windows(mib - 1, mib) is None
    assert hdiff.windows(2 * mib, 2 * mib) == (int(0.4 * mib), int(0.4 * mib / 1.5))
    assert hdiff.windows(8 * mib, 8 * mib) == (int(2.4 * mib), int(0.8 * mib))
    assert hdiff.windows(8 * mib, 0) is None
    # an old file smaller than the window (a new file many times larger) is matched whole
    assert hdiff.windows(mib, 100 * mib) is None


def test_windowed_transform_round_trip(releases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executables matched in windows: format 2, the transformed new file diffed window by window."""
    monkeypatch.setattr(hdiff, "_WINDOW_FROM", 0)
    old, new = releases
    info = make_patch(old, new, tmp_path / "p")
    apply_patch(old, tmp_path / "p", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == new.read_bytes()
    assert info.method == "hdiff"


def test_merging_one_window_gives_hdiffpatch_stream_back(releases: tuple[Path, Path]) -> None:
    import hdiffpatch

    old, new = (p.read_bytes() for p in releases)
    stream = hdiffpatch.diff(old, new, "none", validate=False)
    merged = hdiff.Merge(len(old))
    merged.add(0, stream)
    assert b"".join(merged.sections()) == stream


def test_merge_refuses_what_it_cannot_read() -> None:
    import hdiffpatch

    stream = hdiffpatch.diff(b"a" * 100, b"a" * 50 + b"b" * 60, "none", validate=False)
    for bad in (b"BSDIFF40" + stream[8:], stream + b"x", hdiffpatch.diff(b"a" * 100, b"b" * 100, "zlib", validate=False)):
        with pytest.raises(hdiff.HdiffError, match="HDiffPatch wrote an unexpected stream"):
            hdiff.Merge(100).add(0, bad)


def test_uint_coding_round_trips() -> None:
    rng = random.Random(5)
    values = [0, 1, 63, 64, 127, 128, 16383, 16384, 1 << 40] + [rng.getrandbits(rng.randrange(1, 63)) for _ in range(500)]
    for v in values:
        for tag_bits, tag in ((0, 0), (1, 0), (1, 1)):
            b = hdiff._pack_uint(v, tag, tag_bits)
            assert hdiff._read_uint(b + b"\xff", 0, tag_bits) == (v, tag, len(b))
