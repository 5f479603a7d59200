"""The executable transform (ppm/exe_transform.py) and patch format 2: real executables of each
format and architecture built here (cc; zig cc for arm64 ELF, PE and Mach-O; go), property tests on arbitrary bytes, format 1
patches still applied, and mutated patches refused cleanly before anything is written."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_ppm, run_python
from ppm import delta
from ppm import exe_transform as xt
from ppm.delta import PatchError, apply_patch, make_patch, patch_info

pytest.importorskip("hdiffpatch")
needs_c = pytest.mark.skipif(xt._native() is None, reason="ppm._xform is not built (PPM_NO_NATIVE=1)")

FIXTURES = Path(__file__).parent / "fixtures" / "patch-v1"
V1_NEW_SHA256 = "33d00c12951b8a5d8d28f31c5a8702fb75b91e84f53c110374d0d48c55d6345a"

# A program with enough calls between enough functions for a release to move code around.
C_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
%(functions)s
int main(int argc, char **argv) {
    long total = 0;
    for (int i = 0; i < argc * 100; i++) { %(calls)s }
    printf("release %(version)d: %%ld\n", total);
    return 0;
}
"""


def _c_source(version: int) -> str:
    rng = random.Random(3)
    funcs, calls = [], []
    for k in range(120):
        body = " + ".join(f"(x * {rng.randrange(3, 99)} ^ {rng.randrange(1 << 20)})" for _ in range(rng.randrange(1, 4)))
        if version > 1 and k % 17 == 0:  # a release edits a few functions, which moves the rest
            body += f" + (x >> {version})"
        callee = f"f{k - 1}(x + 1)" if k else "0"
        funcs.append(f"__attribute__((noinline)) long f{k}(long x) {{ return {body} + (x & 1 ? {callee} : 0); }}")
        calls.append(f"total += f{k}(i);")
    if version > 1:
        funcs.insert(40, "__attribute__((noinline)) long added(long x) { return x * 7 + 1; }")
        calls.append("total += added(i);")
    return C_PROGRAM % {"functions": "\n".join(funcs), "calls": " ".join(calls), "version": version}


GO_PROGRAM = """package main

import (
\t"fmt"
\t"os"
\t"strings"
)

%(functions)s

func main() {
\ttotal := 0
\tfor i := 0; i < len(os.Args)*10; i++ {
%(calls)s
\t}
\tfmt.Println(strings.Repeat("release %(version)d ", 2), total)
}
"""


def _go_source(version: int) -> str:
    rng = random.Random(5)
    funcs, calls = [], []
    for k in range(60):
        extra = f" + x>>{version}" if version > 1 and k % 13 == 0 else ""
        funcs.append(f"//go:noinline\nfunc f{k}(x int) int {{ return x*{rng.randrange(3, 99)} ^ {rng.randrange(1 << 20)}{extra} }}")
        calls.append(f"\t\ttotal += f{k}(i)")
    return GO_PROGRAM % {"functions": "\n".join(funcs), "calls": "\n".join(calls), "version": version}


def _zig() -> list[str] | None:
    from ppm import toolchains

    try:
        tc = toolchains.resolve(["zig"], provision=False)["zig"]
    except Exception:
        return None
    return list(tc.argv) if tc.usable else None


# target name -> (expected format, expected arch)
TARGETS = {
    "elf-x86_64": ("ELF", "x86-64"),
    "elf-arm64": ("ELF", "arm64"),
    "pe-x86_64": ("PE", "x86-64"),
    "macho-arm64": ("Mach-O", "arm64"),
    "macho-x86_64": ("Mach-O", "x86-64"),
    "go-elf-x86_64": ("ELF", "x86-64"),
    "go-elf-arm64": ("ELF", "arm64"),
    "go-pe-x86_64": ("PE", "x86-64"),
}


def _build(target: str, version: int, d: Path) -> Path | None:
    """Release ``version`` of the test program for ``target``, or None when no compiler for it is here."""
    out = d / f"{target}-{version}"
    env = {**os.environ}
    if target.startswith("go-"):
        go = shutil.which("go")
        if not go:
            return None
        src = d / f"go{version}" / "main.go"
        src.parent.mkdir(exist_ok=True)
        src.write_text(_go_source(version))
        goos, goarch = {
            "go-elf-x86_64": ("linux", "amd64"), "go-elf-arm64": ("linux", "arm64"), "go-pe-x86_64": ("windows", "amd64"),
        }[target]
        env.update(GOOS=goos, GOARCH=goarch, CGO_ENABLED="0", GOFLAGS="-trimpath", GO111MODULE="off")
        argv = [go, "build", "-ldflags=-s -w", "-o", str(out), str(src)]
    else:
        src = d / f"prog{version}.c"
        src.write_text(_c_source(version))
        if target == "elf-x86_64":
            cc = shutil.which("cc") or shutil.which("gcc")
            if not cc:
                return None
            argv = [cc, "-O2", "-o", str(out), str(src)]
        else:
            zig = _zig()
            if zig is None:
                return None
            triple = {
                "elf-arm64": "aarch64-linux-gnu", "pe-x86_64": "x86_64-windows-gnu",
                "macho-arm64": "aarch64-macos", "macho-x86_64": "x86_64-macos",
            }[target]
            argv = [*zig, "cc", "-target", triple, "-O2", "-o", str(out), str(src)]
    r = subprocess.run(argv, cwd=d, env=env, capture_output=True, text=True, check=False, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"building {target}: {' '.join(argv)}\n{r.stderr[-2000:]}")
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    d = tmp_path_factory.mktemp("exe")
    out = {}
    for target in TARGETS:
        old, new = _build(target, 1, d), _build(target, 2, d)
        if old is not None and new is not None:
            out[target] = (old, new)
    return out


def _pair(builds: dict[str, tuple[Path, Path]], target: str) -> tuple[Path, Path]:
    if target not in builds:
        if target == "elf-x86_64" or (target.startswith("go-") and shutil.which("go")):
            pytest.fail(f"no {target} build although its compiler is here")
        pytest.skip(f"no compiler for {target} here (zig: run `ppm toolchain list --provision`)")
    return builds[target]


# ---------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("target", list(TARGETS))
def test_detect_real_executables(builds: dict[str, tuple[Path, Path]], target: str) -> None:
    old, _ = _pair(builds, target)
    data = old.read_bytes()
    layout = xt.detect(data)
    assert layout is not None
    assert (xt.FORMAT_NAMES[layout.format], xt.ARCH_NAMES[layout.arch]) == TARGETS[target]
    assert layout.regions and all(r.offset > 0 and r.offset + r.size <= len(data) for r in layout.regions)
    assert layout.code_size > 1000


def test_detect_refuses_other_files() -> None:
    assert xt.detect(b"") is None
    assert xt.detect(b"\x7fELF") is None
    assert xt.detect(random.Random(1).randbytes(10_000)) is None
    assert xt.detect(b"#!/bin/sh\necho hi\n" * 10) is None


def _elf_header(machine: int, shoff: int, shnum: int) -> bytearray:
    h = bytearray(64)
    h[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", h, 18, machine)
    struct.pack_into("<Q", h, 0x28, shoff)
    struct.pack_into("<HHHH", h, 0x36, 56, 0, 64, shnum)
    return h


def test_detect_bounds_checks() -> None:
    # section table past the end of the file, a section past the end, a huge section count
    assert xt.detect(bytes(_elf_header(62, 1 << 40, 3)) + bytes(4096)) is None
    h = _elf_header(62, 64, 1)
    section = struct.pack("<IIQQQQ", 0, 1, 4, 0x400000, 128, 1 << 62) + bytes(24)
    assert xt.detect(bytes(h) + section + bytes(4096)) is None  # the only code section does not fit: nothing to do
    section = struct.pack("<IIQQQQ", 0, 1, 4, 0x400000, 128, 1024) + bytes(24)
    layout = xt.detect(bytes(h) + section + bytes(4096))
    assert layout is not None and layout.regions == (xt.Region(128, 1024, 0x400000),)
    assert xt.detect(bytes(_elf_header(62, 64, 0xFFFF)) + bytes(1000)) is None
    assert xt.detect(bytes(_elf_header(3, 64, 1)) + section + bytes(4096)) is None  # i386: not transformed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_detect_never_raises_on_mutated_headers(builds: dict[str, tuple[Path, Path]], data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(sorted(builds) or ["none"]))
    if target == "none":
        pytest.skip("no executables built")
    blob = bytearray(builds[target][0].read_bytes()[:16384])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, min(len(blob), 4096) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    layout = xt.detect(bytes(blob[:cut]))
    if layout is not None:
        assert all(r.offset >= 0 and r.offset + r.size <= cut for r in layout.regions)


# ---------------------------------------------------------------------------------------------- transform


def test_python_engine_keys_anchors_by_bytes_under_a_32_bit_hash(builds: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python engine keys its anchors by their 64-bit hash; where hash() is 32 bits wide (which would
    drop anchors now and then), by the keys themselves: the same maps either way on real executables."""
    import types

    old, new = _pair(builds, "elf-x86_64")
    old_b, new_b = old.read_bytes(), new.read_bytes()
    lo, ln = xt.detect(old_b), xt.detect(new_b)
    assert lo is not None and ln is not None
    maps = xt.build_map(old_b, lo, new_b, ln, engine="python")
    monkeypatch.setattr(xt, "sys", types.SimpleNamespace(hash_info=types.SimpleNamespace(width=32)))
    assert xt.build_map(old_b, lo, new_b, ln, engine="python") == maps


@pytest.mark.parametrize("target", list(TARGETS))
def test_transform_round_trip_real(builds: dict[str, tuple[Path, Path]], target: str) -> None:
    old, new = _pair(builds, target)
    old_b, new_b = old.read_bytes(), new.read_bytes()
    lo, ln = xt.detect(old_b), xt.detect(new_b)
    assert lo is not None and ln is not None
    maps = xt.build_map(old_b, lo, new_b, ln, engine="python")
    assert maps == xt.build_map(old_b, lo, new_b, ln, engine="numpy"), "both engines find the same maps"
    # masking the callers' buffers in place (make_patch reads the files again) finds them too
    old_m, new_m = bytearray(old_b), bytearray(new_b)
    assert maps == xt.build_map(old_m, lo, new_m, ln, engine="numpy", scratch=True)
    assert maps == xt.build_map(bytearray(old_b), lo, bytearray(new_b), ln, engine="python", scratch=True)
    # auto: small code takes the Python engine, its anchors paired in C (ppm._xform.anchor_pairs) when
    # built, and with scratch its code masked in place (_mask_py) rather than in copies
    assert maps == xt.build_map(old_b, lo, new_b, ln)
    assert maps == xt.build_map(bytearray(old_b), lo, bytearray(new_b), ln, scratch=True)
    region = max(ln.regions, key=lambda r: r.size)
    code = new_b[region.offset : region.offset + region.size]
    refs, _ = xt._refs_py(ln.arch, code)
    in_place = bytearray(code)
    xt._mask_py(ln.arch, memoryview(in_place), refs)
    assert bytes(in_place) == xt._masked_py(ln.arch, code, list(refs)), "masking in place gives the masked copy's bytes"
    assert maps.code.intervals, "the two releases share most of their code: the matcher must find some"
    if target.startswith("go-"):  # Go's code reaches its data by lea [rip+d] or adrp + add
        assert maps.data.intervals, "the references in matched code point to data both releases share"
    buf = bytearray(new_b)
    refs = xt.transform(buf, ln, maps, encode=True, engine="python")
    assert refs > 50 and len(buf) == len(new_b)
    vectorised = bytearray(new_b)
    assert xt.transform(vectorised, ln, maps, encode=True, engine="numpy") == refs
    assert vectorised == buf, "the numpy engine rewrites exactly what the Python loop does"
    if xt._native() is not None:
        native = bytearray(new_b)
        assert xt.transform(native, ln, maps, encode=True, engine="c") == refs
        assert native == buf, "the C engine rewrites exactly what the Python loop does"
    undone = bytearray(buf)
    xt.transform(undone, ln, maps, encode=False, engine="numpy")
    assert bytes(undone) == new_b
    layout, maps2 = xt.unpack_descriptor(xt.pack_descriptor(ln, maps), len(new_b))
    assert (layout, maps2.code.intervals, maps2.data.intervals) == (ln, maps.code.intervals, maps.data.intervals)
    xt.transform(buf, layout, maps2, encode=False)
    assert bytes(buf) == new_b


@pytest.mark.parametrize("engine", ["python", "numpy", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("arch", [xt.ARCH_X86_64, xt.ARCH_ARM64])
def test_transform_rewrites_moved_targets(arch: int, engine: str) -> None:
    """A call whose target moved by +0x40 (and whose site did not) reads as in the old release."""
    base = 0x401000
    if arch == xt.ARCH_X86_64:  # the map is in bytes
        amap = xt.AddressMap(1 << 25, ((0, 0, 0x500000), (0x500100, 0x5000C0, 0x1000)))
        new = bytearray(b"\x90" * 16 + b"\xe8" + (0x500100 - (base + 16 + 5)).to_bytes(4, "little") + b"\x90" * 11)
        layout = xt.ExeLayout(xt.FORMAT_ELF, arch, (xt.Region(0, len(new), base),))
        old_rel = 0x5000C0 - (base + 16 + 5)
        expected = bytes(new[:17]) + old_rel.to_bytes(4, "little") + bytes(new[21:])
    else:  # in words: BL at word 4, to the word at 0x500100 (word 0x140040), which was at 0x5000C0 (word 0x140030)
        amap = xt.AddressMap(1 << 26, ((0, 0, 0x140000), (0x140040, 0x140030, 0x400)))
        site = (base >> 2) + 4
        new = bytearray(bytes(16) + (0x94000000 | (0x140040 - site)).to_bytes(4, "little") + bytes(12))
        layout = xt.ExeLayout(xt.FORMAT_ELF, arch, (xt.Region(0, len(new), base),))
        expected = bytes(16) + (0x94000000 | (0x140030 - site)).to_bytes(4, "little") + bytes(12)
    original = bytes(new)
    maps = xt.ExeMaps(amap, xt.AddressMap(1 << xt.DATA_BITS[arch], ()))
    assert xt.transform(new, layout, maps, encode=True, engine=engine) == 1
    assert bytes(new) == expected
    xt.transform(new, layout, maps, encode=False, engine=engine)
    assert bytes(new) == original


@pytest.mark.parametrize("engine", ["python", "numpy", pytest.param("c", marks=needs_c)])
def test_transform_rewrites_moved_data(engine: str) -> None:
    """lea rax, [rip + d] to data that moved by +0x20, and an arm64 ADRP + ADD to data that moved by +0x1010."""
    base = 0x401000
    code = xt.AddressMap(1 << 25, ())  # code did not move
    data = xt.AddressMap(1 << 32, ((0x600020, 0x600000, 0x100),))
    lea = bytearray(b"\x90" * 8 + b"\x48\x8d\x05" + (0x600030 - (base + 8 + 7)).to_bytes(4, "little") + b"\x90" * 9)
    layout = xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_X86_64, (xt.Region(0, len(lea), base),))
    original = bytes(lea)
    xt.transform(lea, layout, xt.ExeMaps(code, data), encode=True, engine=engine)
    assert bytes(lea) == original[:11] + (0x600010 - (base + 8 + 7)).to_bytes(4, "little") + original[15:]
    xt.transform(lea, layout, xt.ExeMaps(code, data), encode=False, engine=engine)
    assert bytes(lea) == original

    def adrp(rd: int, pages: int) -> bytes:
        return (0x90000000 | (pages & 3) << 29 | (pages >> 2) << 5 | rd).to_bytes(4, "little")

    def add(rd: int, rn: int, imm: int) -> bytes:
        return (0x91000000 | imm << 10 | rn << 5 | rd).to_bytes(4, "little")

    # at 0x401000: x3 = 0x601234 (page 0x601 is 0x200 pages on), which was 0x600224 in the old release
    words = bytearray(bytes(8) + adrp(3, 0x601 - 0x401) + add(3, 3, 0x234) + bytes(8))
    layout = xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_ARM64, (xt.Region(0, len(words), base),))
    maps = xt.ExeMaps(xt.AddressMap(1 << 26, ()), xt.AddressMap(1 << 33, ((0x601000, 0x5FFFF0, 0x1000),)))
    original = bytes(words)
    assert xt.transform(words, layout, maps, encode=True, engine=engine) == 1
    assert bytes(words) == bytes(8) + adrp(3, 0x600 - 0x401) + add(3, 3, 0x224) + bytes(8)
    xt.transform(words, layout, maps, encode=False, engine=engine)
    assert bytes(words) == original


def test_data_map_votes() -> None:
    """Each new data target keeps the old target most references agree on, the first seen on a tie."""
    import numpy as np

    base = 0x401000

    def lea_code(targets: list[int]) -> bytes:  # lea rax, [rip + d] to each target, back to back
        return b"".join(b"\x48\x8d\x05" + ((t - (base + 7 * k + 7)) & 0xFFFFFFFF).to_bytes(4, "little") for k, t in enumerate(targets))

    a, b, c, d, t1, t2 = 0x600000, 0x600100, 0x600400, 0x600500, 0x700000, 0x700800
    old = lea_code([a, a, b, c, d])
    new = lea_code([t1, t1, t1, t2, t2])
    refs = np.arange(5, dtype=np.int64) * 7
    same = xt.AddressMap(1 << 25, ())  # the code did not move: each new site votes with the old one

    def targets(code: bytes) -> np.ndarray:  # read before build_map masks the code
        return xt._data_targets(np, xt.ARCH_X86_64, code, refs, xt._data_sites(np, xt.ARCH_X86_64, base, refs))

    amap = xt._data_map(np, xt.ARCH_X86_64, same, base, refs, targets(old), base, refs, targets(new))
    assert amap.intervals == ((t1, a, 1), (t2, c, 1))


@st.composite
def address_maps(draw: st.DrawFn, bits: int) -> xt.AddressMap:
    m = 1 << bits
    cuts = sorted(draw(st.lists(st.integers(0, m), min_size=0, max_size=20, unique=True)))
    spans = [(a, b - a) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    olds = draw(st.permutations(spans))
    # lay the same lengths out in another order in the old space, with random gaps
    total = sum(length for _, length in spans)
    gaps = draw(st.lists(st.integers(0, max(0, (m - total) // (len(spans) + 1))), min_size=len(spans), max_size=len(spans)))
    intervals, pos = [], 0
    for (_, length), gap, (n, n_len) in zip(olds, gaps, spans, strict=True):
        del n_len
        pos += gap
        intervals.append((n, pos, length))
        pos += length
    # pair each new span with an old slot of the same length
    by_len: dict[int, list[int]] = {}
    for _, o, length in intervals:
        by_len.setdefault(length, []).append(o)
    final = [(n, by_len[length].pop(), length) for n, length in spans]
    return xt.AddressMap(m, tuple(sorted(final)))


@settings(max_examples=200, deadline=None)
@given(amap=address_maps(25), points=st.lists(st.integers(0, (1 << 25) - 1), max_size=50))
def test_address_map_is_a_bijection(amap: xt.AddressMap, points: list[int]) -> None:
    for p in points + [iv[0] for iv in amap.intervals] + [0, amap.modulus - 1]:
        y = amap.forward(p)
        assert 0 <= y < amap.modulus and amap.inverse(y) == p
    for n, o, length in amap.intervals:
        assert amap.forward(n) == o and amap.forward(n + length - 1) == o + length - 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(min_size=0, max_size=3000),
    call_bias=st.booleans(),
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]),
    vaddr=st.integers(0, (1 << 40)).map(lambda v: v & ~3),
    data=st.data(),
)
def test_transform_round_trip_random_bytes(body: bytes, call_bias: bool, arch: int, vaddr: int, data: st.DataObject) -> None:
    if call_bias:  # opcodes, prefixes and test bytes packed close together: the hard cases for the scans
        alphabet = b"\xe8\xe9\x00\xff\x48\x4c\x8b\x8d\x05\x3d\x94\x97\x14\x90\xb0\x91\x01"
        body = bytes(alphabet[b % len(alphabet)] for b in body)
    maps = xt.ExeMaps(data.draw(address_maps(25 if arch == xt.ARCH_X86_64 else 26)), data.draw(address_maps(xt.DATA_BITS[arch])))
    pad = data.draw(st.integers(0, 64))
    blob = bytes(pad) + body + b"tail"
    layout = xt.ExeLayout(xt.FORMAT_ELF, arch, (xt.Region(pad, len(body), vaddr),))
    buf = bytearray(blob)
    xt.transform(buf, layout, maps, encode=True)
    assert buf[:pad] == blob[:pad] and buf[pad + len(body) :] == b"tail"
    xt.transform(buf, layout, maps, encode=False)
    assert bytes(buf) == blob
    # and the other way round: decoding arbitrary bytes then encoding gives them back
    buf = bytearray(blob)
    xt.transform(buf, layout, maps, encode=False)
    xt.transform(buf, layout, maps, encode=True)
    assert bytes(buf) == blob


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(min_size=0, max_size=3000),
    call_bias=st.booleans(),
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]),
    vaddr=st.integers(0, (1 << 40)).map(lambda v: v & ~3),
    chunk=st.sampled_from([4, 8, 60, 1 << 20]),
    rounds=st.sampled_from([1, 2, 64]),
    data=st.data(),
)
def test_numpy_engine_matches_the_loop(
    body: bytes, call_bias: bool, arch: int, vaddr: int, chunk: int, rounds: int, data: st.DataObject
) -> None:
    """The vectorised engine gives the Python loop's bytes, encoding and decoding, whatever the chunk
    size (the scan's state crosses chunks) and however few parallel rounds it may take before it
    falls back to the sequential scan (1: nearly always; 64: only on long chains of candidates)."""
    if call_bias:
        alphabet = b"\xe8\xe9\x00\xff\x48\x4c\x8b\x8d\x05\x3d\x94\x97\x14\x90\xb0\x91\x01"
        body = bytes(alphabet[b % len(alphabet)] for b in body)
    maps = xt.ExeMaps(data.draw(address_maps(25 if arch == xt.ARCH_X86_64 else 26)), data.draw(address_maps(xt.DATA_BITS[arch])))
    pad = data.draw(st.integers(0, 64))
    blob = bytes(pad) + body + b"tail"
    layout = xt.ExeLayout(xt.FORMAT_ELF, arch, (xt.Region(pad, len(body), vaddr),))
    with mock.patch.object(xt, "_NP_ROUNDS", rounds):
        for encode in (True, False):
            loop, vec = bytearray(blob), bytearray(blob)
            n = xt.transform(loop, layout, maps, encode=encode, engine="python")
            assert xt._transform_np(vec, layout, maps, encode=encode, chunk=chunk) == n
            assert vec == loop


def test_numpy_engine_falls_back_on_long_chains() -> None:
    """Back-to-back calls whose operands hold E8 bytes: each call is taken only because the one
    before it was (its E8s are operand bytes then), a chain of 60 that two parallel rounds cannot
    settle: the sequential scan decides, with the same result."""
    body = b"\xe8\x00\xe8\x00\xff" * 60 + b"\x90" * 8
    layout = xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_X86_64, (xt.Region(0, len(body), 0x401000),))
    maps = xt.ExeMaps(xt.AddressMap(1 << 25, ((0, 0x40, 0x1000000),)), xt.AddressMap(1 << 32, ()))
    calls: list[int] = []
    real = xt._x86_taken_sequential

    def spy(cand: list[int], *rest: object) -> list[bool]:
        calls.append(len(cand))
        return real(cand, *rest)  # type: ignore[arg-type]

    loop, vec = bytearray(body), bytearray(body)
    n = xt.transform(loop, layout, maps, encode=True, engine="python")
    with mock.patch.object(xt, "_NP_ROUNDS", 2), mock.patch.object(xt, "_x86_taken_sequential", spy):
        assert xt.transform(vec, layout, maps, encode=True, engine="numpy") == n
    assert calls and vec == loop and loop != bytearray(body)


# ---------------------------------------------------------------------------------------------- the C engine

def test_c_engine_is_built() -> None:
    """The C transform is built by every install (setup.py) unless PPM_NO_NATIVE=1 says not to: CI
    cannot silently test only the Python fallback."""
    if os.environ.get("PPM_NO_NATIVE") == "1":
        assert xt._native() is None, "PPM_NO_NATIVE=1: ppm uses no native code"
        return
    assert xt._native() is not None, "ppm._xform is not built: reinstall with a C compiler (pip install -e .)"


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(min_size=0, max_size=3000),
    call_bias=st.booleans(),
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]),
    vaddr=st.integers(0, (1 << 64) - 1),
    data=st.data(),
)
def test_c_engine_matches_the_loop(body: bytes, call_bias: bool, arch: int, vaddr: int, data: st.DataObject) -> None:
    """ppm._xform gives the Python loop's bytes and count, encoding and decoding, on random code
    (opcodes packed close together: the x86 scan's hard cases), maps and addresses (up to 2^64,
    where the C arithmetic wraps), and decoding undoes encoding."""
    if call_bias:
        alphabet = b"\xe8\xe9\x00\xff\x48\x4c\x8b\x8d\x05\x3d\x94\x97\x14\x90\xb0\x91\x01\x03\x1f"
        body = bytes(alphabet[b % len(alphabet)] for b in body)
    if arch == xt.ARCH_ARM64:
        vaddr &= ~3
    maps = xt.ExeMaps(data.draw(address_maps(25 if arch == xt.ARCH_X86_64 else 26)), data.draw(address_maps(xt.DATA_BITS[arch])))
    pad = data.draw(st.integers(0, 64))
    blob = bytes(pad) + body + b"tail"
    split = data.draw(st.integers(0, len(body)))  # two regions: the scan starts afresh in each
    layout = xt.ExeLayout(xt.FORMAT_ELF, arch, (xt.Region(pad, split, vaddr), xt.Region(pad + split, len(body) - split, vaddr)))
    for encode in (True, False):
        loop, native = bytearray(blob), bytearray(blob)
        n = xt.transform(loop, layout, maps, encode=encode, engine="python")
        assert xt.transform(native, layout, maps, encode=encode, engine="c") == n
        assert native == loop
        xt.transform(native, layout, maps, encode=not encode, engine="c")
        assert bytes(native) == blob


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    bits=st.sampled_from([4, 25, 33]),
    data=st.data(),
    raw=st.lists(st.tuples(st.integers(-3, 40), st.integers(-3, 40), st.integers(-2, 20)), max_size=6),
)
def test_c_map_tables_match_python(bits: int, data: st.DataObject, raw: list[tuple[int, int, int]]) -> None:
    """ppm._xform.map_tables (which AddressMap uses when it is built) gives the Python
    construction's tables for any valid map, and refuses what it refuses with the same message."""
    amap = data.draw(address_maps(bits))
    assert amap._piece_lists() == xt._map_pieces(amap.modulus, amap.intervals)
    m = 1 << min(bits, 5)
    try:
        ref = xt._map_pieces(m, tuple(raw))
    except xt.TransformError as e:
        with pytest.raises(xt.TransformError, match=str(e)):
            xt.AddressMap(m, tuple(raw))
        return
    assert xt.AddressMap(m, tuple(raw))._piece_lists() == ref


@needs_c
def test_c_engine_on_long_chains() -> None:
    """Back-to-back calls each taken only because the one before it was (see the numpy test above)."""
    body = b"\xe8\x00\xe8\x00\xff" * 60 + b"\x48\x8d\x05\xe8\x00\x00\xff" * 9 + b"\x90" * 8
    layout = xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_X86_64, (xt.Region(0, len(body), 0x401000),))
    maps = xt.ExeMaps(xt.AddressMap(1 << 25, ((0, 0x40, 0x1000000),)), xt.AddressMap(1 << 32, ((0, 0x100, 1 << 31),)))
    loop, native = bytearray(body), bytearray(body)
    n = xt.transform(loop, layout, maps, encode=True, engine="python")
    assert xt.transform(native, layout, maps, encode=True, engine="c") == n and n == 69
    assert native == loop


BENCH = Path.home() / ".cache" / "ppm-bench"  # tests/benchmarks/bench_patch.py's downloads
BENCH_PAIRS = {
    "rollup-arm64": "npm/@rollup__rollup-linux-arm64-gnu/{}/package_____node",
    "rollup-win64": "npm/@rollup__rollup-win32-x64-msvc/{}/package_____node",
    "esbuild-x64": "npm/@esbuild__linux-x64/{}/package_bin_esbuild",
    "esbuild-arm64": "npm/@esbuild__linux-arm64/{}/package_bin_esbuild",
    "esbuild-win64": "npm/@esbuild__win32-x64/{}/package_esbuild__exe",
    "uv-x86_64": "pypi/uv/{}/x86_64/bin",
    "uv-aarch64": "pypi/uv/{}/aarch64/bin",
}
BENCH_VERSIONS = {"rollup": ("4.68.7", "4.68.8"), "esbuild": ("0.28.1", "0.28.2"), "uv": ("0.13.8", "0.13.9")}


def _released(pair: str) -> tuple[bytes, xt.ExeLayout, bytes, xt.ExeLayout]:
    """(old, its layout, new, its layout) of a benchmark pair, or a skip when its files are not here."""
    old_p, new_p = (BENCH / BENCH_PAIRS[pair].format(v) for v in BENCH_VERSIONS[pair.split("-")[0]])
    if not (old_p.is_file() and new_p.is_file()):
        print(f"{pair}: {old_p} or {new_p} is missing (python tests/benchmarks/bench_patch.py downloads them)")
        pytest.skip(f"{pair}: the benchmark's files are not in {BENCH}")
    old_b, new_b = old_p.read_bytes(), new_p.read_bytes()
    lo, ln = xt.detect(old_b), xt.detect(new_b)
    assert lo is not None and ln is not None
    return old_b, lo, new_b, ln


@needs_c
@pytest.mark.parametrize("pair", list(BENCH_PAIRS))
def test_c_engine_matches_the_loop_on_released_executables(pair: str) -> None:
    """Real releases (Go, Rust; ELF and PE; x86-64 and arm64) as the benchmark downloads them, when
    they are here: the C engine rewrites exactly what the Python loop does, both ways."""
    old_b, lo, new_b, ln = _released(pair)
    maps = xt.build_map(old_b, lo, new_b, ln)
    loop, native = bytearray(new_b), bytearray(new_b)
    n = xt.transform(loop, ln, maps, encode=True, engine="python")
    assert xt.transform(native, ln, maps, encode=True, engine="c") == n and n > 10000
    assert native == loop
    encoded = bytes(native)
    assert xt.transform(native, ln, maps, encode=False, engine="c") == n
    assert native == new_b
    loop = bytearray(encoded)
    xt.transform(loop, ln, maps, encode=False, engine="python")
    assert loop == new_b


@needs_c
@pytest.mark.parametrize("pair", [p for p in BENCH_PAIRS if p.startswith("rollup")])  # the Python engine is slow on bigger code
def test_c_anchors_give_the_python_engines_maps_on_released_executables(pair: str) -> None:
    """Real releases when they are here: build_map with its anchors paired in C (auto, for code under
    3 MiB) finds the maps the dict-based Python engine and the numpy engine find."""
    old_b, lo, new_b, ln = _released(pair)
    maps = xt.build_map(old_b, lo, new_b, ln)
    assert maps.code.intervals
    assert maps == xt.build_map(old_b, lo, new_b, ln, engine="python")
    # make_patch's way: the code masked in place in its bytearrays, which then hold the masked code
    old_m, new_m = bytearray(old_b), bytearray(new_b)
    assert maps == xt.build_map(old_m, lo, new_m, ln, scratch=True)
    assert old_m != old_b and new_m != new_b
    assert maps == xt.build_map(old_b, lo, new_b, ln, engine="numpy")


def _anchor_pairs_reference(om: bytes, old_refs: list[int], nm: bytes, new_refs: list[int]) -> list[tuple[int, int]]:
    """What ppm._xform.anchor_pairs computes, by content: keys that occur once on each side and on both."""

    def unique(m: bytes, refs: list[int]) -> dict[bytes, int]:
        seen: dict[bytes, int] = {}
        for j in refs:
            if 0 <= j <= len(m) - 32:
                k = m[j : j + 32]
                seen[k] = -1 if k in seen else j
        return {k: j for k, j in seen.items() if j >= 0}

    in_old = unique(om, old_refs)
    return sorted((j, in_old[k]) for k, j in unique(nm, new_refs).items() if k in in_old)


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    om=st.binary(min_size=0, max_size=300), nm=st.binary(min_size=0, max_size=300),
    old_refs=st.lists(st.integers(-40, 340), max_size=40), new_refs=st.lists(st.integers(-40, 340), max_size=40),
    alphabet=st.integers(1, 3),
)
def test_c_anchor_pairs_match_the_reference(om: bytes, nm: bytes, old_refs: list[int], new_refs: list[int], alphabet: int) -> None:
    """Repeated keys (a small alphabet), repeated and out-of-range offsets: dropped as the Python engine drops them."""
    from array import array

    om, nm = bytes(b % alphabet for b in om), bytes(b % alphabet for b in nm)
    native = xt._native()
    got = memoryview(native.anchor_pairs(om, array("q", old_refs), nm, array("q", new_refs))).cast("q").tolist()
    assert list(zip(got[0::2], got[1::2], strict=True)) == _anchor_pairs_reference(om, old_refs, nm, new_refs)
    with pytest.raises(ValueError, match="int64"):
        native.anchor_pairs(om, b"1234567", nm, b"")


# ------------------------------------------------------------------- build_map's planning in C (small code)

X86_ALPHABET = b"\xe8\xe9\x00\xff\x48\x4c\x8b\x8d\x89\x05\x0d\x3d\xc7\x0f\x80\x83\x39\x01\x03\x1f"


@st.composite
def arm_code(draw: st.DrawFn) -> bytes:
    """arm64 words biased toward what the scans look for: B/BL, ADRP + ADD on one register (or another),
    the immediates the mask clears, and random words; sometimes a partial word at the end."""
    words = []
    for kind, v, reg in draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, (1 << 32) - 1), st.integers(0, 31)), max_size=300)):
        if kind == 0:
            words.append(v & 0x03FFFFFF | (0x94000000 if v & 1 << 31 else 0x14000000))
        elif kind == 1:  # ADRP x<reg>, then ADD x<reg'>, x<reg>, #imm (reg' = reg or not; shift bits set or not)
            words.append(v & 0x60FFFFE0 | 0x90000000 | reg)
            words.append(0x91000000 | (v >> 10 & 0xFFF) << 10 | ((reg if v & 1 else v >> 5) & 0x1F) << 5 | (v & 0x00C00000 if v & 2 else 0))
        elif kind == 2:
            words.append(v & 0x003FFC00 | 0xF9000000)
        else:
            words.append(v)
    tail = draw(st.binary(max_size=3))
    return struct.pack(f"<{len(words)}I", *words) + tail


def _c_scan(arch: int, code: bytes | memoryview, vaddr: int) -> tuple[list[int], ...]:
    return tuple(memoryview(x).cast("q").tolist() for x in xt._native().scan(arch, code, vaddr))


def _py_scan(arch: int, code: bytes, vaddr: int) -> tuple[list[int], ...]:
    refs, data = xt._refs_py(arch, code)
    return list(refs), list(data), list(xt._targets_py(arch, code, vaddr, data))


def _scan_and_mask_match(arch: int, code: bytes, vaddr: int) -> int:
    """ppm._xform's scan and mask give _refs_py, _targets_py and _masked_py's results on ``code``,
    also on an unaligned view into a larger buffer (how make_patch passes them); returns the references found."""
    ref = _py_scan(arch, code, vaddr)
    assert _c_scan(arch, code, vaddr) == ref
    buf = bytearray(b"x" + code + b"y")
    view = memoryview(buf)[1:-1]
    assert _c_scan(arch, view, vaddr) == ref
    xt._native().mask(arch, view, struct.pack(f"={len(ref[0])}q", *ref[0]))
    assert buf == b"x" + xt._masked_py(arch, code, ref[0]) + b"y"
    return len(ref[0]) + len(ref[1])


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=3000), bias=st.booleans(), arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]),
    vaddr=st.integers(0, (1 << 64) - 1), data=st.data(),
)
def test_c_scan_and_mask_match_python(body: bytes, bias: bool, arch: int, vaddr: int, data: st.DataObject) -> None:
    """On random code (x86: opcodes, prefixes, ModRMs and test bytes packed close together, the scan's
    and the mask's hard cases; arm64: branch words and ADRP + ADD pairs) at any address up to 2^64,
    the C scan finds the Python scan's references and targets, and the C mask zeroes its bytes."""
    if arch == xt.ARCH_X86_64 and bias:
        body = bytes(X86_ALPHABET[b % len(X86_ALPHABET)] for b in body)
    elif bias:
        body = data.draw(arm_code())
    _scan_and_mask_match(arch, body, vaddr)


@needs_c
def test_c_scan_and_mask_at_the_code_ends() -> None:
    """References and masked fields that end exactly at the end of the code, or one byte past it
    (then not references, not masked), after any filler: as the Python scan and mask decide."""
    tails = [b"\x48\x8b\x05", b"\x8b\x05", b"\x48\x8b\x05\x8b\x05", b"\xe8", b"\x4c\xe8", b"\xe9\xe8", b"\x48\x0f\x0d", b"\xc7\x3d"]
    for tail in tails:
        for extra in range(7):
            for filler in (b"", b"\x90", b"\x90\x90", b"\xe8\x00", b"\x48"):
                for last in (b"\x00", b"\xff", b"\x12"):
                    code = filler + tail + last * extra
                    _scan_and_mask_match(xt.ARCH_X86_64, code, 0x401000)
    words = [0x94000001, 0x90000003, 0x91000463, 0xF9400000, 0x14FFFFFF]
    for n in range(4):
        for pick in range(len(words) ** 2):
            body = struct.pack("<2I", words[pick % len(words)], words[pick // len(words)])
            _scan_and_mask_match(xt.ARCH_ARM64, body + b"\x91" * n, 0x10000)
            _scan_and_mask_match(xt.ARCH_ARM64, body[:4] + b"\x91" * n, 0x10000)


@needs_c
@pytest.mark.parametrize("target", list(TARGETS))
def test_c_scan_and_mask_on_real_executables(builds: dict[str, tuple[Path, Path]], target: str) -> None:
    _, new = _pair(builds, target)
    data = new.read_bytes()
    layout = xt.detect(data)
    assert layout is not None
    found = sum(_scan_and_mask_match(layout.arch, data[r.offset : r.offset + r.size], r.vaddr) for r in layout.regions)
    assert found > 50


@needs_c
@pytest.mark.parametrize("pair", list(BENCH_PAIRS))
def test_c_planning_on_released_executables(pair: str) -> None:
    """Real releases when they are here: the C scan and mask match Python's on the new release's code,
    and build_map planned in C (auto, whatever the code's size; in the callers' bytearrays or not)
    finds the Python engine's maps."""
    old_b, lo, new_b, ln = _released(pair)
    r = max(ln.regions, key=lambda r: r.size)
    assert _scan_and_mask_match(ln.arch, new_b[r.offset : r.offset + r.size], r.vaddr) > 10000
    maps = xt.build_map(bytearray(old_b), lo, bytearray(new_b), ln, scratch=True)
    assert maps.code.intervals and maps == xt.build_map(old_b, lo, new_b, ln, engine="python")
    assert maps == xt.build_map(old_b, lo, new_b, ln, engine="c")


@needs_c
def test_auto_plans_small_code_in_c(builds: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    """build_map (auto, small code) does its planning through ppm._xform's functions, not silently in Python."""
    import types

    real = xt._native()
    called: set[str] = set()

    def spy(name: str) -> object:
        def call(*args: object) -> object:
            called.add(name)
            return getattr(real, name)(*args)

        return call

    names = ("transform", "map_tables", "anchor_pairs", "scan", "mask", "extend_runs", "data_votes")
    monkeypatch.setattr(xt, "_NATIVE", [types.SimpleNamespace(**{n: spy(n) for n in names})])
    old, new = _pair(builds, "go-elf-x86_64" if "go-elf-x86_64" in builds else "elf-x86_64")
    old_b, new_b = old.read_bytes(), new.read_bytes()
    lo, ln = xt.detect(old_b), xt.detect(new_b)
    assert lo is not None and ln is not None
    maps = xt.build_map(bytearray(old_b), lo, bytearray(new_b), ln, scratch=True)
    assert {"anchor_pairs", "scan", "mask", "extend_runs"} <= called
    if maps.data.intervals:
        assert "data_votes" in called


@needs_c
@pytest.mark.parametrize("missing", [
    ("scan", "mask", "extend_runs", "data_votes", "anchor_pairs"), ("scan", "mask", "extend_runs", "data_votes"),
    ("extend_runs",), ("data_votes",), ("mask",), ("scan",),
])
def test_build_map_with_an_older_c_module(builds: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]) -> None:
    """A ppm._xform built from an older source lacks some of these functions: the Python code does
    their work, with the same maps."""
    import types

    real = xt._native()
    names = ("transform", "map_tables", "anchor_pairs", "scan", "mask", "extend_runs", "data_votes")
    older = types.SimpleNamespace(**{n: getattr(real, n) for n in names if n not in missing})
    for target in ("elf-x86_64", "go-elf-arm64", "go-elf-x86_64"):
        if target not in builds:
            continue
        old_b, new_b = (p.read_bytes() for p in builds[target])
        lo, ln = xt.detect(old_b), xt.detect(new_b)
        assert lo is not None and ln is not None
        maps = xt.build_map(old_b, lo, new_b, ln, engine="python")
        with monkeypatch.context() as m:
            m.setattr(xt, "_NATIVE", [older])
            assert xt.build_map(bytearray(old_b), lo, bytearray(new_b), ln, scratch=True) == maps
            assert xt.build_map(old_b, lo, new_b, ln) == maps
            with pytest.raises(RuntimeError, match="not built"):
                xt.build_map(old_b, lo, new_b, ln, engine="c")


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    nm=st.binary(max_size=400), om=st.binary(max_size=400), alphabet=st.integers(1, 3),
    raw=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 1 << 20)), max_size=40), in_order=st.booleans(),
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]), vaddrs=st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1)),
)
def test_c_extend_runs_matches_the_loop(
    nm: bytes, om: bytes, alphabet: int, raw: list[tuple[int, int]], in_order: bool, arch: int, vaddrs: tuple[int, int]
) -> None:
    """ppm._xform.extend_runs gives _extend_runs_py's runs: pairs in any order (a pair inside the last
    run skipped), at the ends of the codes, misaligned shifts skipped (arm64), long runs of a small alphabet."""
    nm, om = bytes(b % alphabet for b in nm), bytes(b % alphabet for b in om)
    pairs = [(n % (len(nm) + 1), o % (len(om) + 1)) for n, o in raw]
    if in_order:
        pairs.sort()
    a = xt._ARCHES[arch]
    ro, rn = xt.Region(0, len(om), vaddrs[0]), xt.Region(0, len(nm), vaddrs[1])
    ref = xt._extend_runs_py(a, ro, rn, pairs, om, nm)
    packed = struct.pack(f"={2 * len(pairs)}q", *(x for p in pairs for x in p))
    got = memoryview(xt._native().extend_runs(nm, om, packed, (rn.vaddr - ro.vaddr) % a.align, a.align)).cast("q").tolist()
    assert list(zip(got[0::3], got[1::3], got[2::3], strict=True)) == ref
    if -(1 << 63) <= rn.vaddr - ro.vaddr < 1 << 63:  # only the shift's residue matters
        again = memoryview(xt._native().extend_runs(nm, om, packed, rn.vaddr - ro.vaddr, a.align)).cast("q").tolist()
        assert again == got


@st.composite
def code_maps(draw: st.DrawFn, bits: int) -> xt.AddressMap:
    """Code maps under which many data references' sites meet: the identity, one rotation, or any map."""
    m = 1 << bits
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return xt.AddressMap(m, ())
    if kind == 1:
        s = draw(st.integers(1, 64))
        return xt.AddressMap(m, ((0, s, m - s),))
    return draw(address_maps(bits))


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]), data=st.data(),
    old=st.lists(st.tuples(st.integers(-8, 40), st.integers(0, 6)), max_size=60),
    new=st.lists(st.tuples(st.integers(-8, 40), st.integers(0, 6)), max_size=60),
    vaddr=st.integers(0, (1 << 64) - 1), delta=st.integers(-6, 6),
)
def test_c_data_votes_match_python(
    arch: int, data: st.DataObject, old: list[tuple[int, int]], new: list[tuple[int, int]], vaddr: int, delta: int
) -> None:
    """ppm._xform.data_votes gives _data_votes_py's pairs: repeated old sites (the last counts), ties
    between old targets (the first seen wins), negative offsets, addresses that wrap at 2^64."""
    code = data.draw(code_maps(xt._ARCHES[arch].bits))
    if data.draw(st.booleans()):
        new = old + new  # the same references in both: votes that agree
    new_vaddr = (vaddr + delta * xt._ARCHES[arch].unit) % (1 << 64)
    o_refs, o_t = [p for p, _ in old], [t for _, t in old]
    n_refs, n_t = [p for p, _ in new], [t for _, t in new]
    ref = xt._data_votes_py(arch, code, vaddr, o_refs, o_t, new_vaddr, n_refs, n_t)

    def q(v: list[int]) -> bytes:
        return struct.pack(f"={len(v)}q", *v)

    fs, fh = code._tables()[:2]
    got = memoryview(xt._native().data_votes(arch, fs, fh, vaddr, q(o_refs), q(o_t), new_vaddr, q(n_refs), q(n_t))).cast("q").tolist()
    assert list(zip(got[0::2], got[1::2], strict=True)) == ref
    assert xt._data_map_native(xt._native(), arch, code, vaddr, q(o_refs), q(o_t), new_vaddr, q(n_refs), q(n_t)) == xt._data_map_py(
        arch, code, vaddr, o_refs, o_t, new_vaddr, n_refs, n_t
    )


@needs_c
def test_c_anchor_pairs_sort_many_keys() -> None:
    """Thousands of references (keys repeated, offsets in order, reversed, or shuffled): the pairs of
    the by-content reference, whichever way the sort has to go."""
    from array import array

    native = xt._native()
    rng = random.Random(14)
    for alphabet, size, order in ((2, 6000, "shuffled"), (3, 9000, "sorted"), (256, 9000, "reversed"), (4, 9000, "same")):
        om = bytes(rng.randrange(alphabet) for _ in range(size))
        nm = bytes(rng.randrange(alphabet) for _ in range(size // 2)) + om[: size // 2]
        old_refs = [rng.randrange(-5, size) for _ in range(4000)]
        new_refs = [rng.randrange(-5, size) for _ in range(4000)]
        if order == "sorted":
            old_refs.sort(), new_refs.sort()
        elif order == "reversed":
            old_refs.sort(reverse=True), new_refs.sort(reverse=True)
        elif order == "same":
            old_refs = new_refs = [size // 3] * 2000 + list(range(0, size, 3))
        got = memoryview(native.anchor_pairs(om, array("q", old_refs), nm, array("q", new_refs))).cast("q").tolist()
        assert list(zip(got[0::2], got[1::2], strict=True)) == _anchor_pairs_reference(om, old_refs, nm, new_refs)


@needs_c
def test_c_planning_refuses_bad_input() -> None:
    """Bad arguments to the planning's C functions: ValueError or TransformError (TypeError for a
    read-only or missing buffer), before any byte is read out of bounds or written."""
    native = xt._native()
    code = b"\xe8\x00\x00\x00\x00" * 20
    for arch in (0, 3, -1):
        with pytest.raises(ValueError, match="architecture"):
            native.scan(arch, code, 0)
        with pytest.raises(ValueError, match="architecture"):
            native.mask(arch, bytearray(code), b"")
        with pytest.raises(ValueError, match="architecture"):
            native.data_votes(arch, b"", bytes(8), 0, b"", b"", 0, b"", b"")
    for vaddr in (-1, 1 << 64):
        with pytest.raises(ValueError, match="2\\^64"):
            native.scan(xt.ARCH_X86_64, code, vaddr)
        with pytest.raises(ValueError, match="2\\^64"):
            native.data_votes(xt.ARCH_X86_64, b"", bytes(8), 0, b"", b"", vaddr, b"", b"")
    with pytest.raises(TypeError):
        native.scan(xt.ARCH_X86_64, code, "0")
    with pytest.raises(TypeError):
        native.scan(xt.ARCH_X86_64, None, 0)
    # mask: writable code only; the calls are int64 and leave room for their rel32, else nothing changes
    with pytest.raises(TypeError):
        native.mask(xt.ARCH_X86_64, code, b"")
    for calls in (b"\0" * 7, struct.pack("=q", -1), struct.pack("=q", len(code) - 4), struct.pack("=2q", 0, 1 << 62)):
        buf = bytearray(code)
        with pytest.raises(ValueError, match="call"):
            native.mask(xt.ARCH_X86_64, buf, calls)
        assert buf == code
    native.mask(xt.ARCH_X86_64, bytearray(code), struct.pack("=q", len(code) - 5))
    # extend_runs: int64 pairs inside both codes, a power-of-two alignment
    nm, om = b"abcdef" * 10, b"abcdef" * 9
    for pairs in (b"\0" * 15, struct.pack("=2q", -1, 0), struct.pack("=2q", 0, -1), struct.pack("=2q", len(nm) + 1, 0),
                  struct.pack("=4q", 0, 0, 0, len(om) + 1)):
        with pytest.raises(ValueError, match="pair"):
            native.extend_runs(nm, om, pairs, 0, 1)
    for align in (0, -4, 3, 12, 1 << 33):
        with pytest.raises(ValueError, match="align"):
            native.extend_runs(nm, om, b"", 0, align)
    end = struct.pack("=2q", len(nm), len(om))  # at the very ends: nothing to extend forward
    assert memoryview(native.extend_runs(nm, om, end, 0, 1)).cast("q").tolist() == [len(nm) - len(om), 0, len(om)]
    # data_votes: a well-formed table, references and targets of one length
    for starts, shifts in ((b"", b""), (bytes(8), bytes(8)), (bytes(7), bytes(15))):
        with pytest.raises(xt.TransformError):
            native.data_votes(xt.ARCH_X86_64, starts, shifts, 0, b"", b"", 0, b"", b"")
    for refs, targets in ((bytes(8), b""), (bytes(7), bytes(7)), (bytes(16), bytes(8))):
        with pytest.raises(ValueError, match="int64"):
            native.data_votes(xt.ARCH_X86_64, b"", bytes(8), 0, refs, targets, 0, b"", b"")
        with pytest.raises(ValueError, match="int64"):
            native.data_votes(xt.ARCH_X86_64, b"", bytes(8), 0, b"", b"", 0, refs, targets)


@needs_c
def test_c_engine_refuses_bad_regions_and_tables() -> None:
    """Regions outside the buffer and malformed map tables raise TransformError before any byte
    changes, whether they reach the C code through transform() or directly."""
    from array import array

    from ppm import _xform

    blob = bytes(range(256)) * 4
    maps = xt.ExeMaps(xt.AddressMap(1 << 25, ((0, 0x40, 0x1000),)), xt.AddressMap(1 << 32, ()))
    for region in (xt.Region(1, len(blob), 0), xt.Region(len(blob) + 1, 0, 0), xt.Region(-1, 8, 0), xt.Region(0, -1, 0)):
        buf = bytearray(blob)
        with pytest.raises(xt.TransformError):
            xt.transform(buf, xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_X86_64, (xt.Region(0, 64, 0), region)), maps, encode=True)
        assert buf == blob, "nothing is rewritten before the regions are checked"
    arm_maps = xt.ExeMaps(xt.AddressMap(1 << 26, ()), xt.AddressMap(1 << 33, ()))
    with pytest.raises(xt.TransformError, match="unaligned"):
        xt.transform(bytearray(blob), xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_ARM64, (xt.Region(0, 64, 2),)), arm_maps, encode=True)
    with pytest.raises(xt.TransformError, match="another architecture"):
        xt.transform(bytearray(blob), xt.ExeLayout(xt.FORMAT_ELF, xt.ARCH_ARM64, (xt.Region(0, 64, 0),)), maps, encode=True)
    code, data = maps.code._tables(), maps.data._tables()

    def call(regions: list[int], *tables: object, arch: int = xt.ARCH_X86_64) -> int:
        return _xform.transform(bytearray(blob), arch, array("Q", regions), *tables, True)  # type: ignore[arg-type]

    assert call([0, len(blob), 0], *code, *data) == xt.transform(bytearray(blob), xt.ExeLayout(1, 1, (xt.Region(0, len(blob), 0),)), maps, encode=True)
    for regions in ([0, len(blob) + 1, 0], [len(blob), 1, 0], [1 << 63, 1 << 63, 0], [5, (1 << 64) - 1, 0], [0, 8]):
        with pytest.raises(xt.TransformError):
            call(regions, *code, *data)
    short = array("q", [0])  # shifts need one entry more than starts
    for bad in ((code[0], short), (array("q", [0, 1]), array("q", [0, 0])), (b"\0" * 7, b"\0" * 15)):
        with pytest.raises(xt.TransformError):
            call([0, len(blob), 0], *bad, *code[2:], *data)
    with pytest.raises(xt.TransformError):
        call([0, len(blob), 0], *code, *data, arch=3)
    with pytest.raises((TypeError, BufferError)):
        _xform.transform(blob, xt.ARCH_X86_64, array("Q", [0, 8, 0]), *code, *data, True)  # type: ignore[arg-type]


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    arch=st.sampled_from([xt.ARCH_X86_64, xt.ARCH_ARM64]),
    starts=st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=12),
    shifts=st.lists(st.integers(-(1 << 63), (1 << 63) - 1), min_size=1, max_size=13),
    encode=st.booleans(),
)
def test_c_engine_stays_in_bounds_on_any_table(arch: int, starts: list[int], shifts: list[int], encode: bool) -> None:
    """Tables that no AddressMap makes (unsorted starts, shifts of any size) only give other bytes
    or a TransformError: every index the C code takes is in range, every write inside the region."""
    from array import array

    from ppm import _xform

    body = b"\xe8\x00\x10\x00\x00\x48\x8d\x05\x00\x10\x00\x00\x94\x00\x00\x00\x90\x00\x00\x91" * 40
    buf = bytearray(b"head" + body + b"tail")
    t = (array("q", starts), array("q", shifts))
    try:
        _xform.transform(buf, arch, array("Q", [4, len(body), 0x400000]), *t, *t, *t, *t, encode)
    except xt.TransformError:
        assert len(shifts) != len(starts) + 1
        return
    assert buf[:4] == b"head" and buf[-4:] == b"tail"


@settings(max_examples=300, deadline=None)
@given(desc=st.binary(max_size=200), size=st.integers(0, 1 << 40))
def test_descriptor_parser_only_raises_transform_errors(desc: bytes, size: int) -> None:
    try:
        layout, maps = xt.unpack_descriptor(desc, size)
    except xt.TransformError:
        return
    assert all(r.offset + r.size <= size for r in layout.regions)
    for amap in (maps.code, maps.data):
        assert all(n + ln <= amap.modulus and o + ln <= amap.modulus for n, o, ln in amap.intervals)


def test_descriptor_mutations_refused(builds: dict[str, tuple[Path, Path]]) -> None:
    old, new = _pair(builds, "elf-x86_64")
    old_b, new_b = old.read_bytes(), new.read_bytes()
    ln = xt.detect(new_b)
    assert ln is not None
    desc = xt.pack_descriptor(ln, xt.build_map(old_b, xt.detect(old_b), new_b, ln))  # type: ignore[arg-type]
    for cut in range(len(desc)):
        with pytest.raises(xt.TransformError):
            xt.unpack_descriptor(desc[:cut], len(new_b))
    with pytest.raises(xt.TransformError):
        xt.unpack_descriptor(desc + b"\0", len(new_b))
    with pytest.raises(xt.TransformError, match="do not fit"):
        xt.unpack_descriptor(desc, ln.regions[-1].offset)


# ---------------------------------------------------------------------------------------------- patches


@pytest.mark.parametrize("target", list(TARGETS))
def test_patch_round_trip(builds: dict[str, tuple[Path, Path]], target: str, tmp_path: Path) -> None:
    old, new = _pair(builds, target)
    info = make_patch(old, new, tmp_path / "p")
    fmt, arch = TARGETS[target]
    assert (info.format_version, info.transform, info.method) == (2, f"{fmt} {arch}", "hdiff")
    assert patch_info(tmp_path / "p") == info
    apply_patch(old, tmp_path / "p", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == new.read_bytes()
    plain = make_patch(old, new, tmp_path / "plain", transform=False)
    assert (plain.format_version, plain.transform) == (1, "none")
    apply_patch(old, tmp_path / "plain", tmp_path / "out2")
    assert (tmp_path / "out2").read_bytes() == new.read_bytes()
    best = make_patch(old, new, tmp_path / "best", method="best")
    assert best.patch_size <= min(info.patch_size, plain.patch_size)


def test_no_transform_when_the_code_is_the_same(builds: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    """Same code at the same addresses (a bundle whose bootloader did not change): the transform is the identity."""
    old, _ = _pair(builds, "elf-x86_64")
    data = bytearray(old.read_bytes())
    data += b"appended payload, as PyInstaller appends its archive"
    (tmp_path / "new").write_bytes(data)
    info = make_patch(old, tmp_path / "new", tmp_path / "p")
    assert (info.transform, info.format_version) == ("none", 1)
    forced = make_patch(old, tmp_path / "new", tmp_path / "f", transform=True)
    assert forced.transform == "ELF x86-64" and forced.patch_size > info.patch_size
    apply_patch(old, tmp_path / "f", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_transform_needs_executables(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a" * 1000)
    (tmp_path / "b").write_bytes(b"b" * 1000)
    assert make_patch(tmp_path / "a", tmp_path / "b", tmp_path / "p").transform == "none"
    assert patch_info(tmp_path / "p").format_version == 1
    with pytest.raises(PatchError, match="not both executables"):
        make_patch(tmp_path / "a", tmp_path / "b", tmp_path / "p2", transform=True)
    with pytest.raises(PatchError, match="hdiff method only"):
        make_patch(tmp_path / "a", tmp_path / "b", tmp_path / "p2", transform=True, method="zstd")


def test_memory_need_covers_the_transform(builds: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    old, new = _pair(builds, "elf-x86_64")
    info = make_patch(old, new, tmp_path / "p")
    plain = delta.decoder_memory_need("hdiff", info.old_size, info.new_size, info.payload_size, info.raw_size)
    assert info.memory_need == delta.decoder_memory_need(
        "hdiff", info.old_size, info.new_size, info.payload_size, info.raw_size, descriptor_size=info.descriptor_size
    ) > plain
    with pytest.raises(delta.PatchMemoryError):
        apply_patch(tmp_path / "missing", tmp_path / "p", tmp_path / "out", max_memory=info.memory_need - 1)


# ---------------------------------------------------------------------------------------------- format 1


@pytest.mark.parametrize("method", ["hdiff", "zstd"])
def test_format_1_patches_still_apply(method: str, tmp_path: Path) -> None:
    import hashlib

    patch = FIXTURES / f"{method}.v1.patch"
    info = patch_info(patch)
    assert (info.format_version, info.method, info.transform) == (1, method, "none")
    apply_patch(FIXTURES / "old.bin", patch, tmp_path / "new.bin")
    data = (tmp_path / "new.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V1_NEW_SHA256 == info.new_sha256
    assert data == (FIXTURES / "new.bin").read_bytes()


def _format1_reader():  # type: ignore[no-untyped-def]
    """ppm.delta as it was before format 2 (tests/fixtures/patch-v1/delta_v1.py): an old client."""
    spec = importlib.util.spec_from_file_location("delta_v1", FIXTURES / "delta_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["delta_v1"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["delta_v1"]
    return module


def test_old_clients_refuse_format_2(builds: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    old, new = _pair(builds, "elf-x86_64")
    make_patch(old, new, tmp_path / "p")
    v1 = _format1_reader()
    with pytest.raises(v1.PatchError, match="patch format version 2, this ppm reads version 1") as e:
        v1.apply_patch(old, tmp_path / "p", tmp_path / "out")
    assert e.value.hint and "update ppm" in e.value.hint
    assert not (tmp_path / "out").exists()
    # while patches without the transform stay format 1, which old clients apply
    make_patch(old, new, tmp_path / "plain", transform=False)
    v1.apply_patch(old, tmp_path / "plain", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == new.read_bytes()
    # and the old client's own patches are what the fixtures hold
    assert v1.patch_info(FIXTURES / "hdiff.v1.patch").format_version == 1


def test_format_1_header_with_transform_fields_refused(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "hdiff.v1.patch").read_bytes())
    data[11] = 1  # a transform in a format 1 header
    data[124:128] = struct.pack("<I", zlib.crc32(bytes(data[:124])))
    (tmp_path / "p").write_bytes(data)
    with pytest.raises(PatchError, match="reserved bytes"):
        patch_info(tmp_path / "p")


# ---------------------------------------------------------------------------------------------- refusals


def _refused(old: Path, patch: Path, out: Path) -> str:
    out.write_bytes(b"previous version")
    with pytest.raises(PatchError) as e:
        apply_patch(old, patch, out)
    assert out.read_bytes() == b"previous version", "a refused patch must leave the output untouched"
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".part")] == []
    return str(e.value)


@pytest.fixture(scope="module")
def exe_patch(builds: dict[str, tuple[Path, Path]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    old, new = _pair(builds, "elf-x86_64")
    p = tmp_path_factory.mktemp("exe-patch") / "app.patch"
    make_patch(old, new, p)
    return old, p


def _with_header(data: bytes, **fields: int) -> bytes:
    """``data`` with header fields replaced and the header checksum recomputed (a well-formed lie)."""
    b = bytearray(data)
    offsets = {"version": (8, "B"), "method": (9, "B"), "transform": (11, "B"), "format": (12, "B"), "arch": (13, "B"),
               "payload": (96, "<Q"), "raw": (104, "<Q"), "desc": (120, "<I")}
    for name, value in fields.items():
        off, fmt = offsets[name]
        struct.pack_into(fmt, b, off, value)
    struct.pack_into("<I", b, 124, zlib.crc32(bytes(b[:124])))
    return bytes(b)


def test_corrupt_format_2_patches_refused(exe_patch: tuple[Path, Path], tmp_path: Path) -> None:
    old, patch = exe_patch
    data = patch.read_bytes()
    info = patch_info(patch)
    dsize = info.descriptor_size
    def flip(pos: int, bit: int) -> bytes:
        return data[:pos] + bytes([data[pos] ^ bit]) + data[pos + 1 :]

    cases = {
        "descriptor byte": flip(delta.HEADER_SIZE + 5, 0x40),
        "descriptor crc": flip(delta.HEADER_SIZE + dsize - 1, 1),
        "frame byte": data[:-10] + bytes([data[-10] ^ 0x10]) + data[-9:],
        "descriptor size": _with_header(data, desc=dsize - 4),
        "descriptor size 0": _with_header(data, desc=0),
        "descriptor larger than payload": _with_header(data, desc=info.payload_size + 1),
        "unknown transform": _with_header(data, transform=9),
        "other arch": _with_header(data, arch=2),
        "zstd method with transform": _with_header(data, method=1),
        "truncated": data[: len(data) - 7],
        "truncated in descriptor": data[: delta.HEADER_SIZE + dsize // 2],
    }
    for name, blob in cases.items():
        p = tmp_path / name.replace(" ", "-")
        p.write_bytes(blob)
        message = _refused(old, p, tmp_path / "out")
        assert message, name


@pytest.mark.parametrize("numpy_from", [xt._NUMPY_MIN_CODE, 0], ids=["auto-engine", "numpy-engine"])
def test_fuzzed_patches_give_only_patch_errors(
    exe_patch: tuple[Path, Path], tmp_path: Path, numpy_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xt, "_NUMPY_MIN_CODE", numpy_from)  # the test programs' code is small: force numpy too
    old, patch = exe_patch
    data = patch.read_bytes()
    rng = random.Random(14)
    out = tmp_path / "out"
    for i in range(300):
        b = bytearray(data)
        kind = i % 5
        if kind == 0:  # flip bytes anywhere
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # flip bytes in the header, checksum fixed up: the decoder must not trust it
            for _ in range(rng.randrange(1, 3)):
                b[rng.randrange(8, 124)] = rng.randrange(256)
            b = bytearray(_with_header(bytes(b)))
        elif kind == 2:  # truncate
            b = b[: rng.randrange(len(b))]
        elif kind == 3:  # bytes in the descriptor, the frame left alone
            d = patch_info(patch).descriptor_size
            b[delta.HEADER_SIZE + rng.randrange(d)] = rng.randrange(256)
        else:  # insert or delete a run
            at = rng.randrange(delta.HEADER_SIZE, len(b))
            b[at:at] = rng.randbytes(rng.randrange(1, 16)) if rng.random() < 0.5 else b""
            if len(b) == len(data):
                del b[at : at + rng.randrange(1, 16)]
        if bytes(b) == data:
            continue
        p = tmp_path / "fuzzed.patch"
        p.write_bytes(b)
        try:
            apply_patch(old, p, out)
        except PatchError:
            assert not out.exists()
            continue
        # a mutation the decoder tolerated must still give exactly the new file (the sha256 decides)
        assert delta._sha256(out.read_bytes()) == patch_info(patch).new_sha256
        out.unlink()


def _ppm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_ppm(*args, cwd=cwd, env={"CI": "1"}, check=False, timeout=300)


def test_cli_fuzzed_patches_exit_cleanly(exe_patch: tuple[Path, Path], tmp_path: Path) -> None:
    old, patch = exe_patch
    data = patch.read_bytes()
    rng = random.Random(7)
    d = patch_info(patch).descriptor_size
    mutants = [
        data[: rng.randrange(len(data))],
        _with_header(data, desc=d + 3),
        _with_header(data, version=3),
        data[: delta.HEADER_SIZE + 2] + bytes([data[delta.HEADER_SIZE + 2] ^ 0xFF]) + data[delta.HEADER_SIZE + 3 :],
        data[:-40] + rng.randbytes(40),
        rng.randbytes(len(data)),
    ]
    for i, blob in enumerate(mutants):
        (tmp_path / f"m{i}").write_bytes(blob)
        r = _ppm("patch", "apply", str(old), f"m{i}", "-o", "out", cwd=tmp_path)
        assert r.returncode != 0, i
        assert "Traceback" not in r.stderr and r.stderr.strip(), (i, r.stderr)
        assert not (tmp_path / "out").exists()
    r = _ppm("patch", "info", str(patch), cwd=tmp_path)
    assert r.returncode == 0 and "transform    ELF x86-64" in r.stdout


def test_cli_make_with_and_without_transform(builds: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    old, new = _pair(builds, "elf-x86_64")
    r = _ppm("patch", "make", str(old), str(new), "-o", "t.patch", "--no-compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ELF x86-64 transform (format 2)" in r.stdout
    r = _ppm("patch", "make", str(old), str(new), "-o", "n.patch", "--no-transform", "--no-compare", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"transform": "none"' in r.stdout and '"format_version": 1' in r.stdout
    r = _ppm("patch", "make", str(old), str(old), "-o", "x.patch", "--transform", "--no-compare", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "data").write_bytes(b"just data" * 100)
    r = _ppm("patch", "make", "data", "data", "-o", "y.patch", "--transform", cwd=tmp_path)
    assert r.returncode != 0 and "not both executables" in r.stderr and "Traceback" not in r.stderr


def test_numpy_only_when_needed(tmp_path: Path) -> None:
    """numpy is imported lazily: not by importing ppm.delta, not to patch files that are not executables."""
    code = (
        "import sys; from pathlib import Path; from ppm.delta import apply_patch, make_patch\n"
        "assert 'numpy' not in sys.modules\n"
        "o, n, p = (Path(sys.argv[1], x) for x in ('old', 'new', 'patch'))\n"
        "o.write_bytes(bytes(range(256)) * 64); n.write_bytes(bytes(range(256)) * 63 + b'x' * 256)\n"
        "make_patch(o, n, p); apply_patch(o, p, Path(sys.argv[1], 'out'))\n"
        "assert 'numpy' not in sys.modules, 'plain data needs no numpy'\n"
    )
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr


@needs_c
def test_applying_needs_no_numpy(exe_patch: tuple[Path, Path], tmp_path: Path) -> None:
    """With the C engine, applying an executable patch imports no numpy, however large the code
    (the size from which the fallback would use numpy is lowered to 0 here)."""
    old, patch = exe_patch
    code = (
        "import sys; from pathlib import Path; from ppm import exe_transform as xt; from ppm.delta import apply_patch\n"
        "xt._NUMPY_MIN_CODE = 0\n"
        "apply_patch(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))\n"
        "assert 'numpy' not in sys.modules, 'the C engine needs no numpy'\n"
    )
    proc = run_python(code, old, patch, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert delta._sha256((tmp_path / "out").read_bytes()) == patch_info(patch).new_sha256


def test_numpy_import_leaves_the_environment_alone() -> None:
    """OpenBLAS's thread count is set for numpy's import only: nothing ppm starts afterwards inherits it."""
    code = (
        "import os; from ppm import exe_transform as xt\n"
        "np = xt._numpy(); assert np.__name__ == 'numpy'\n"
        "assert 'OPENBLAS_NUM_THREADS' not in os.environ, os.environ.get('OPENBLAS_NUM_THREADS')\n"
    )
    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
