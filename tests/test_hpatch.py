"""ppm._hpatch, the C decoder of HDiffPatch's uncompressed stream, against the hdiffpatch package.

hdiffpatch makes every stream here (what ppm.delta's patches carry) and its own decoder is the
reference: ppm._hpatch must give the same bytes on every pair, and refuse with ValueError, never
crash or read out of bounds, on every malformed stream.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_python
from ppm import delta, hdiff

hdiffpatch = pytest.importorskip("hdiffpatch")
try:
    from ppm import _hpatch
except ImportError:  # a failure, not a skip, unless the environment says the fallback is meant
    if os.environ.get("PPM_NO_NATIVE") != "1":
        raise ImportError(
            "ppm._hpatch is not built: reinstall ppm with a C compiler (pip install -e .), "
            "or set PPM_NO_NATIVE=1 where ppm is installed without its C extensions"
        ) from None
    pytest.skip("PPM_NO_NATIVE=1: ppm is installed without ppm._hpatch", allow_module_level=True)

FIXTURES = Path(__file__).parent / "fixtures" / "patch-v1"


def _diff(old: bytes, new: bytes) -> bytes:
    """The stream exactly as ppm.delta._encode makes it."""
    return hdiffpatch.diff(old, new, "none", validate=False, big_cache_match=True)


def _check(old: bytes, new: bytes) -> bytes:
    d = _diff(old, new)
    got = _hpatch.apply(old, d, len(new))
    assert isinstance(got, bytearray)
    assert got == new
    assert hdiffpatch.apply(old, d) == new
    return d


def test_native_module_is_built() -> None:
    """CI must not test only the fallback: the module exists (the import above fails the file if not,
    unless PPM_NO_NATIVE=1) and ppm.hdiff (which ppm.delta applies with) uses it."""
    assert hdiff._hpatch is _hpatch
    assert Path(_hpatch.__file__).suffix in (".so", ".pyd")


def _edited(rng: random.Random, old: bytes, edits: int) -> bytes:
    """``old`` with the kinds of changes a new release makes: insertions, deletions, small arithmetic on runs."""
    new = bytearray(old)
    for _ in range(edits):
        at = rng.randrange(len(new) + 1)
        op = rng.randrange(4)
        if op == 0:
            new[at:at] = rng.randbytes(rng.randrange(1, 80))
        elif op == 1:
            del new[at : at + rng.randrange(1, 80)]
        elif op == 2:  # what relocated pointers look like: a few added to every 4th byte of a run
            delta_ = rng.choice([1, 4, 255, 16])
            for k in range(at, min(len(new), at + rng.randrange(4, 400)), 4):
                new[k] = (new[k] + delta_) & 0xFF
        else:  # runs of one value (zero padding, 0xff fill): the rle section's cases
            new[at:at] = bytes([rng.choice([0, 255, rng.randrange(256)])]) * rng.randrange(1, 300)
    return bytes(new)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=st.binary(max_size=6000), seed=st.integers(0, 2**32), edits=st.integers(0, 12), unrelated=st.booleans())
def test_parity_generated(old: bytes, seed: int, edits: int, unrelated: bool) -> None:
    rng = random.Random(seed)
    if len(old) < 64 and rng.random() < 0.7:  # hypothesis shrinks towards empty: keep most pairs substantial
        old += rng.randbytes(rng.randrange(200, 3000))
    new = rng.randbytes(rng.randrange(0, 3000)) if unrelated else _edited(rng, old, edits)
    _check(old, new)


@pytest.mark.parametrize("case", ["both-empty", "empty-old", "empty-new", "same", "one-byte"])
def test_parity_edges(case: str) -> None:
    body = random.Random(2).randbytes(5000)
    old, new = {
        "both-empty": (b"", b""), "empty-old": (b"", body), "empty-new": (body, b""),
        "same": (body, body), "one-byte": (b"a", b"b"),
    }[case]
    _check(old, new)


def _real_files() -> list[Path]:
    """Real executables and libraries of this machine (ELF here), several MB between them."""
    found = [Path(sys.executable).resolve()]
    for name in ("ls", "cp", "gcc", "tar", "bash"):
        p = shutil.which(name)
        if p:
            found.append(Path(p).resolve())
    import hashlib as _h  # a C extension module: a shared library with relocations

    found.append(Path(_h.__file__).resolve() if _h.__file__ and _h.__file__.endswith(".so") else Path(sys.executable).resolve())
    return sorted({p for p in found if p.is_file()})


def test_parity_real_executables() -> None:
    """Unrelated real binaries (many covers, little in common) and each one against an edited copy."""
    files = [p.read_bytes() for p in _real_files()]
    assert len(files) >= 3
    rng = random.Random(11)
    for a, b in itertools.pairwise(files):
        _check(a, b)
    for a in files:
        _check(a, _edited(rng, a, 40))


def test_parity_releases(tmp_path: Path) -> None:
    """Two releases of a C program built with gcc (the releases tests/test_delta.py patches), and the format-1 fixtures."""
    pairs = [((FIXTURES / "old.bin").read_bytes(), (FIXTURES / "new.bin").read_bytes())]
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "no C compiler here: ppm._hpatch could not have been built either"
    pairs.append((_c_release(cc, tmp_path, 1), _c_release(cc, tmp_path, 2)))
    for old, new in pairs:
        _check(old, new)


def _c_release(cc: str, d: Path, version: int) -> bytes:
    """Release ``version`` of a small C program: a few functions and a table change between releases."""
    rng = random.Random(7)
    table = [rng.randrange(1 << 30) ^ (version if i % 97 == 0 else 0) for i in range(3000)]
    funcs = "\n".join(
        f"__attribute__((noinline)) long f{k}(long x) {{ return x * {k + 3 + (version if k % 9 == 0 else 0)} + table[x % 3000]; }}"
        for k in range(80)
    )
    calls = " ".join(f"t += f{k}(i);" for k in range(80))
    src = d / f"prog{version}.c"
    src.write_text(
        f"#include <stdio.h>\nstatic long table[3000] = {{{', '.join(map(str, table))}}};\n{funcs}\n"
        f'int main(int argc, char **argv) {{ long t = 0; for (int i = 0; i < argc; i++) {{ {calls} }} printf("v{version} %ld\\n", t); return 0; }}\n'
    )
    out = d / f"prog{version}"
    subprocess.run([cc, "-O2", "-o", str(out), str(src)], check=True, capture_output=True)
    return out.read_bytes()


def test_fixture_patch_stream() -> None:
    """The HDiffPatch stream inside a patch ppm wrote (format 1, hdiff): both decoders agree on it."""
    path = FIXTURES / "hdiff.v1.patch"
    info = delta.patch_info(path)
    stream, _ = delta._unpack(info, path.read_bytes()[delta.HEADER_SIZE :])
    old = (FIXTURES / "old.bin").read_bytes()
    assert _hpatch.apply(old, stream, info.new_size) == hdiffpatch.apply(old, stream) == (FIXTURES / "new.bin").read_bytes()


# ---------------------------------------------------------------------------------------------- refusals


def _sample() -> tuple[bytes, bytes, bytes]:
    rng = random.Random(5)
    old = rng.randbytes(3000) + bytes(500) + b"\xff" * 300 + rng.randbytes(2000)
    new = _edited(rng, old, 15)
    return old, new, _check(old, new)


def test_refuses_compressed_streams() -> None:
    old, new, _ = _sample()
    for compressor in ("zlib", "zstd"):
        d = hdiffpatch.diff(old, new, compressor)
        assert hdiffpatch.apply(old, d) == new
        with pytest.raises(ValueError, match=f"compressed with {compressor}"):
            _hpatch.apply(old, d, len(new))


def test_refuses_other_versions() -> None:
    old, new, d = _sample()
    for head in (b"HDIFF19&", b"HDIFF12&"):
        with pytest.raises(ValueError, match="unsupported HDiffPatch format"):
            _hpatch.apply(old, head + d[8:], len(new))
    with pytest.raises(ValueError, match="unsupported HDiffPatch format HDIFFSF20"):
        _hpatch.apply(old, b"HDIFFSF20" + d[8:], len(new))
    for junk in (b"", b"H", b"BSDIFF40" + d[8:], bytes(64)):
        with pytest.raises(ValueError, match="no HDIFF13 header"):
            _hpatch.apply(old, junk, len(new))


def test_refuses_other_files() -> None:
    old, new, d = _sample()
    with pytest.raises(ValueError, match="old file of"):
        _hpatch.apply(old[:-1], d, len(new))
    with pytest.raises(ValueError, match="makes"):
        _hpatch.apply(old, d, len(new) + 1)
    for size in (-1, 1 << 64, (1 << 63) + 5):  # sizes come from a patch header: out of range is a ValueError
        with pytest.raises(ValueError, match=r"new_size|makes"):
            _hpatch.apply(old, d, size)
    with pytest.raises(TypeError):
        _hpatch.apply(old, "not bytes", len(new))  # type: ignore[arg-type]


def test_refuses_every_truncation_and_extension() -> None:
    old, new, d = _sample()
    for n in range(len(d)):
        with pytest.raises(ValueError, match="HDiffPatch"):
            _hpatch.apply(old, d[:n], len(new))
    with pytest.raises(ValueError, match="trailing bytes"):
        _hpatch.apply(old, d + b"\0", len(new))


def test_accepts_any_buffer() -> None:
    old, new, d = _sample()
    assert _hpatch.apply(memoryview(old), bytearray(d), len(new)) == new


def _mutate(rng: random.Random, d: bytes) -> bytes:
    b = bytearray(d)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b[rng.randrange(len(b))] = rng.choice([0, 0x7F, 0x80, 0xFF, rng.randrange(256)])
    elif kind == 2:  # a varint made long: the continuation bit set on a run of bytes
        at = rng.randrange(len(b))
        for k in range(at, min(len(b), at + rng.randrange(1, 12))):
            b[k] |= 0x80
    elif kind == 3:
        at = rng.randrange(len(b))
        b[at:at] = rng.randbytes(rng.randrange(1, 9))
    else:
        at = rng.randrange(len(b))
        del b[at : at + rng.randrange(1, 9)]
    return bytes(b)


def test_fuzzed_streams_raise_value_error_only() -> None:
    """Mutated streams: ValueError or the reference decoder's own output, nothing else, never a crash."""
    old, new, d = _sample()
    other = random.Random(9).randbytes(700)
    streams = [(old, new, d), (other, other[::-1], _check(other, other[::-1]))]
    rng = random.Random(14)
    accepted = 0
    for i in range(3000):
        o, n, base = streams[i % 2]
        m = _mutate(rng, base)
        try:
            ref: bytes | None = hdiffpatch.apply(o, m)
        except (hdiffpatch.HDiffPatchError, MemoryError):  # MemoryError: a mutated new size of petabytes
            ref = None
        try:
            got = _hpatch.apply(o, m, len(n) if ref is None else len(ref))
        except ValueError:
            assert ref is None, f"mutant {i}: the reference decoder accepts it, ppm._hpatch refuses it"
            continue
        assert ref is not None, f"mutant {i}: ppm._hpatch accepts what the reference refuses"
        assert got == ref
        accepted += 1
    assert accepted < 3000  # the mutations do reach the refusals


def _uint(v: int, tag: int = 0, tag_bits: int = 0) -> bytes:
    """HDiffPatch's varint: big-endian 7-bit groups, ``tag_bits`` flag bits at the top of the first byte."""
    groups = []
    while v > (1 << (7 - tag_bits)) - 1:
        groups.append(v & 0x7F)
        v >>= 7
    first = v | (tag << (8 - tag_bits)) | ((1 if groups else 0) << (7 - tag_bits))
    rest = [g | (0x80 if i else 0) for i, g in reversed(list(enumerate(groups)))]
    return bytes([first, *rest])


def _stream(old_size: int, new_size: int, covers: bytes, count: int, ctrl: bytes, code: bytes, newdata: bytes) -> bytes:
    head = b"".join(_uint(v) for v in (new_size, old_size, count, len(covers), 0, len(ctrl), 0, len(code), 0, len(newdata), 0))
    return b"HDIFF13&\0" + head + covers + ctrl + code + newdata


def test_handmade_stream() -> None:
    """A stream written from the format's description (ppm/_hpatch.c): both decoders read it the same way.

    new = 3 bytes from the new-data section, then old[10:4010] + 7 (an rle run of one value), then
    old[0:100] + the rle code bytes 0..99 (a step of -4010), then zeros (a zero run) over old[100:300].
    """
    old = random.Random(1).randbytes(5000)
    covers = (
        _uint(10, 0, 1) + _uint(3) + _uint(4000)
        + _uint(4010, 1, 1) + _uint(0) + _uint(100)
        + _uint(0, 0, 1) + _uint(0) + _uint(200)
    )
    ctrl = _uint(2, 0, 2) + _uint(3999, 2, 2) + _uint(99, 3, 2) + _uint(199, 0, 2)
    code = bytes([7]) + bytes(range(100))
    d = _stream(len(old), 4303, covers, 3, ctrl, code, b"abc")
    expected = (
        b"abc" + bytes((b + 7) & 0xFF for b in old[10:4010])
        + bytes((b + i) & 0xFF for i, b in enumerate(old[:100])) + old[100:300]
    )
    assert hdiffpatch.apply(old, d) == expected
    assert _hpatch.apply(old, d, len(expected)) == expected
    for n in range(len(d)):  # and every truncation of it is refused by both
        with pytest.raises(ValueError):
            _hpatch.apply(old, d[:n], len(expected))


def test_releases_the_gil() -> None:
    """Another thread runs while a large stream is applied (it could not, were the GIL held)."""
    import threading
    import time

    n = 48 << 20  # one cover over all of old, plus 1 on every byte: tens of milliseconds of decoding
    old = bytes(n)
    d = _stream(n, n, _uint(0, 0, 1) + _uint(0) + _uint(n), 1, _uint(n - 1, 2, 2), b"\x01", b"")
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    t = threading.Thread(target=tick)
    before = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # holding the GIL, apply would keep the ticker out for seconds
    t.start()
    try:
        time.sleep(0.01)
        during = []
        for _ in range(3):
            start = ticks
            out = _hpatch.apply(old, d, n)
            during.append(ticks - start)
        assert out[:4] == b"\x01" * 4 and out[-1] == 1
    finally:
        done.set()
        t.join()
        sys.setswitchinterval(before)
    assert max(during) > 0, "no other thread ran while ppm._hpatch.apply decoded"


# ---------------------------------------------------------------------------------------------- ppm.delta


def test_delta_falls_back_to_hdiffpatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C module (installed without a compiler) ppm.delta applies patches with the hdiffpatch package."""
    old, new = FIXTURES / "old.bin", FIXTURES / "new.bin"
    p = tmp_path / "p"
    delta.make_patch(old, new, p, method="hdiff")
    monkeypatch.setattr(hdiff, "_hpatch", None)
    delta.apply_patch(old, p, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == new.read_bytes()
    bad = bytearray(p.read_bytes())
    stream, _ = delta._unpack(delta.patch_info(p), bytes(bad[delta.HEADER_SIZE :]))
    with pytest.raises(delta.PatchError, match="corrupt patch"):
        delta._hdiff_apply(old.read_bytes(), stream[:-3], len(new.read_bytes()))


def test_patch_info_is_an_immutable_value() -> None:
    """PatchInfo, a plain class since it stopped being a dataclass (to keep dataclasses off the apply path)."""
    import copy
    import pickle

    info = delta.patch_info(FIXTURES / "hdiff.v1.patch")
    fields = ["method", "format_version", "old_size", "old_sha256", "new_size", "new_sha256", "patch_size",
              "payload_size", "raw_size", "window_log", "memory_need", "transform", "descriptor_size"]
    assert list(info.to_dict()) == fields  # `ppm patch info --json` prints them in this order
    again = delta.PatchInfo(**info.to_dict())  # type: ignore[arg-type]
    assert again == info and hash(again) == hash(info) and again is not info
    assert pickle.loads(pickle.dumps(info)) == info == copy.deepcopy(info) == copy.copy(info)
    assert info != delta.PatchInfo(**{**info.to_dict(), "memory_need": info.memory_need + 1})  # type: ignore[arg-type]
    assert repr(info).startswith("PatchInfo(method='hdiff', format_version=1,")
    with pytest.raises(AttributeError, match="immutable"):
        info.memory_need = 0  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del info.method
    assert delta.PatchInfo("zstd", 1, 1, "a", 2, "b", 3, 4, 5, 10, 6).transform == "none"


def test_delta_turns_value_errors_into_patch_errors() -> None:
    with pytest.raises(delta.PatchError, match="corrupt patch: malformed HDiffPatch stream"):
        delta._hdiff_apply(b"old", b"HDIFF13&\0", 3)


def test_apply_path_imports_only_what_it_needs(tmp_path: Path) -> None:
    """Applying a patch does not import hdiffpatch (the C module decodes), nor concurrent.futures,
    logging, threading or tempfile, nor the zstd package around its C module (its enums): `apply_patch`
    is timed against bspatch, and these were most of its time."""
    old, new = FIXTURES / "old.bin", FIXTURES / "new.bin"
    p = tmp_path / "p"
    delta.make_patch(old, new, p, method="hdiff")
    code = (
        "import sys; from pathlib import Path; from ppm.delta import apply_patch\n"
        "apply_patch(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))\n"
        "bad = sorted(m for m in ('hdiffpatch', 'concurrent.futures', 'logging', 'tempfile', 'threading',\n"
        "                         'backports.zstd', 'compression.zstd') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    r = run_python(code, old, p, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == new.read_bytes()


def test_zstd_decoder_checks_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The payload is one zstd frame that decodes to exactly the header's size: trailing bytes, a short
    frame or a longer output are refused (no more than size + 1 bytes are decoded); the same through
    the zstd package where its C module cannot be loaded on its own."""
    data = bytes(range(256)) * 64
    frame, wlog = delta._zstd_compress(data, 19)
    load_c = delta._load_backports_zstd_c
    for loader in (load_c, lambda: None):
        monkeypatch.setattr(delta, "_DECODER", [])
        monkeypatch.setattr(delta, "_load_backports_zstd_c", loader)
        assert delta._zstd_decompress(frame, wlog, len(data)) == data
        for bad, size, msg in (
            (frame + b"\0", len(data), "does not end where its frame does"),
            (frame + frame, len(data), "does not end where its frame does"),
            (frame[:-5], len(data), "corrupt patch"),
            (frame, len(data) - 1, "decoded 16384 bytes, the header says 16383"),
            (frame, len(data) + 1, "decoded 16384 bytes, the header says 16385"),
            (b"not zstd", 8, "corrupt patch"),
        ):
            with pytest.raises(delta.PatchError, match=msg):
                delta._zstd_decompress(bad, wlog, size)
    if sys.version_info < (3, 14):
        module = load_c()
        assert module is not None, "backports.zstd's C module is found beside its package"
        from backports import zstd

        assert module.zstd_version_number == zstd.zstd_version_info[0] * 10000 + zstd.zstd_version_info[1] * 100 + zstd.zstd_version_info[2]
