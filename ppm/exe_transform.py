"""Reversible reference transforms for executables, so that patches between releases stay small.

When a release inserts or removes code or data, every reference whose displacement crosses the
change gets new bytes although it still means the same thing: a diff sees tens of thousands of
scattered small edits. xz's BCJ filters rewrite branch displacements as absolute targets, which
helps compression but little for diffing, since the targets move too (measured on esbuild
0.28.1→0.28.2: x86-64 patch 0.98 of bsdiff4's instead of 0.95 without it, arm64 0.96 instead of
1.06; this transform: 0.66 and 0.72). Zucchini's idea works for diffing: rewrite each reference
in the *new* file as the *old* release would have written it, through a map of which code and
data moved where. Code that only moved, or only reaches things that moved, then reads exactly as
in the old file.

- :func:`detect` finds the code: ELF, PE and Mach-O, 64-bit little-endian, x86-64 or arm64. Every
  field read is bounds-checked (the input is untrusted), and anything unexpected means "not an
  executable we transform".
- References: x86-64 ``call/jmp rel32`` and rip-relative ``disp32`` operands (:func:`_x86_chunks`
  says how its left-to-right scan stays reversible), arm64 ``B/BL`` and ``ADRP`` + ``ADD`` pairs.
- :func:`build_map` (making a patch only) matches the two releases' code, displacements masked
  so that moved code still matches, into a code map; references in matched code give pairs of
  data targets, hence a data map. Each map is a bijection of the displacement space
  (:class:`AddressMap`), so any bytes at all transform and restore exactly.
- :func:`transform` rewrites (or restores) the references in place; the patch carries the new
  file's code regions and both maps (:func:`pack_descriptor`), so applying parses no executable.
  The old file is never transformed.
- Speed: :func:`transform` runs in C (ppm/_xform.c, about a nanosecond a byte of code: a few ms
  on a 5 MB binary) whenever that extension is built (setup.py; PPM_NO_NATIVE=1 turns it off).
  Without it, numpy does the work on large code (imported lazily; about 60 ms of CPU to import, so
  code under _NUMPY_MIN_CODE, 3 MiB, keeps the Python loops, about a microsecond a reference).
  :func:`build_map` (making a patch only) plans in C too when it is built, whatever the code's
  size; without it, in Python on small code and with numpy on large code. :func:`build_map` and
  :func:`transform` take an ``engine``. The x86 scan decides left to right; :func:`_x86_scan_np`
  reaches the same decisions in parallel rounds. Every engine gives the Python loop's bytes
  (tests/test_delta_exe.py compares them on random bytes and real executables).
"""

from __future__ import annotations

import os
import struct
import sys
from bisect import bisect_right
from itertools import accumulate, chain

from ppm.core.record import Frozen

# typing and collections.abc for the type checker only, and Frozen records below instead of
# dataclasses: typing and dataclasses (which imports inspect) cost about 8 ms of CPU,
# more than the rest of this module's import, on every `ppm patch apply`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

ARCH_X86_64 = 1
ARCH_ARM64 = 2
ARCH_NAMES = {ARCH_X86_64: "x86-64", ARCH_ARM64: "arm64"}

FORMAT_ELF = 1
FORMAT_PE = 2
FORMAT_MACHO = 3
FORMAT_NAMES = {FORMAT_ELF: "ELF", FORMAT_PE: "PE", FORMAT_MACHO: "Mach-O"}

MAX_REGIONS = 64
_MIN_REGION = 64  # smaller code sections (PLT stubs and the like) are not worth a descriptor entry


class TransformError(ValueError):
    """A transform descriptor is malformed or does not fit the file it is applied to."""


class Region(Frozen):
    """A run of code: ``size`` bytes at file ``offset``, loaded at virtual address ``vaddr``."""

    __slots__ = _fields = ("offset", "size", "vaddr")
    offset: int
    size: int
    vaddr: int

    def __init__(self, offset: int, size: int, vaddr: int) -> None:
        self._init(offset, size, vaddr)


class ExeLayout(Frozen):
    __slots__ = _fields = ("format", "arch", "regions")
    format: int
    arch: int
    regions: tuple[Region, ...]

    def __init__(self, format: int, arch: int, regions: tuple[Region, ...]) -> None:
        self._init(format, arch, regions)

    @property
    def name(self) -> str:
        return f"{FORMAT_NAMES[self.format]} {ARCH_NAMES[self.arch]}"

    @property
    def code_size(self) -> int:
        return sum(r.size for r in self.regions)


# ------------------------------------------------------------------------------------- parsing


class _Bad(Exception):
    """Internal: the headers do not hold together; the file is treated as data."""


def _u(data: bytes | bytearray, fmt: str, off: int) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if off < 0 or off + size > len(data):
        raise _Bad
    return struct.unpack_from(fmt, data, off)


def _clean(regions: list[Region], length: int) -> tuple[Region, ...]:
    """Regions inside the file, at least _MIN_REGION bytes, sorted, non-overlapping, at most MAX_REGIONS."""
    out: list[Region] = []
    end = 0
    for r in sorted(regions, key=lambda r: r.offset):
        if r.size < _MIN_REGION or r.offset < 0 or r.offset + r.size > length or r.offset < end:
            continue
        if not 0 <= r.vaddr < 1 << 64:
            continue
        out.append(r)
        end = r.offset + r.size
    if len(out) > MAX_REGIONS:
        out = sorted(sorted(out, key=lambda r: -r.size)[:MAX_REGIONS], key=lambda r: r.offset)
    return tuple(out)


def _elf(data: bytes | bytearray) -> ExeLayout | None:
    if data[4] != 2 or data[5] != 1:  # 64-bit, little-endian
        return None
    (machine,) = _u(data, "<H", 18)
    arch = {62: ARCH_X86_64, 183: ARCH_ARM64}.get(machine)
    if arch is None:
        return None
    phoff, shoff = _u(data, "<QQ", 0x20)
    phentsize, phnum, shentsize, shnum = _u(data, "<HHHH", 0x36)
    regions: list[Region] = []
    if shnum and shoff:
        if shentsize < 64 or shnum > 0xFF00:
            raise _Bad
        for i in range(shnum):
            base = shoff + i * shentsize
            _, sh_type, flags, addr, offset, size = _u(data, "<IIQQQQ", base)
            if sh_type == 1 and flags & 0x4:  # SHT_PROGBITS, SHF_EXECINSTR
                regions.append(Region(offset, size, addr))
    elif phnum and phoff:
        if phentsize < 56:
            raise _Bad
        header_end = max(64, phoff + phnum * phentsize)
        for i in range(phnum):
            p_type, p_flags, offset, vaddr, _, filesz = _u(data, "<IIQQQQ", phoff + i * phentsize)
            if p_type == 1 and p_flags & 1:  # PT_LOAD, PF_X
                skip = max(0, header_end - offset) if offset < header_end else 0
                regions.append(Region(offset + skip, filesz - skip, vaddr + skip))
    return ExeLayout(FORMAT_ELF, arch, _clean(regions, len(data)))


def _pe(data: bytes | bytearray) -> ExeLayout | None:
    (pe,) = _u(data, "<I", 0x3C)
    if _u(data, "<4s", pe)[0] != b"PE\0\0":
        return None
    machine, nsections = _u(data, "<HH", pe + 4)
    (opt_size,) = _u(data, "<H", pe + 20)
    arch = {0x8664: ARCH_X86_64, 0xAA64: ARCH_ARM64}.get(machine)
    if arch is None:
        return None
    opt = pe + 24
    (magic,) = _u(data, "<H", opt)
    if magic != 0x20B:  # PE32+
        return None
    (image_base,) = _u(data, "<Q", opt + 24)
    table = opt + opt_size
    regions: list[Region] = []
    for i in range(nsections):
        vsize, vaddr, raw_size, raw_ptr = _u(data, "<IIII", table + 40 * i + 8)
        (chars,) = _u(data, "<I", table + 40 * i + 36)
        if chars & 0x20 or chars & 0x20000000:  # IMAGE_SCN_CNT_CODE, IMAGE_SCN_MEM_EXECUTE
            size = min(raw_size, vsize) if vsize else raw_size
            regions.append(Region(raw_ptr, size, image_base + vaddr))
    return ExeLayout(FORMAT_PE, arch, _clean(regions, len(data)))


def _macho(data: bytes | bytearray) -> ExeLayout | None:
    (cputype,) = _u(data, "<I", 4)
    arch = {0x01000007: ARCH_X86_64, 0x0100000C: ARCH_ARM64}.get(cputype)
    if arch is None:
        return None
    ncmds, sizeofcmds = _u(data, "<II", 16)
    if ncmds > 0x10000 or 32 + sizeofcmds > len(data):
        raise _Bad
    off, end = 32, 32 + sizeofcmds
    regions: list[Region] = []
    for _ in range(ncmds):
        cmd, cmdsize = _u(data, "<II", off)
        if cmdsize < 8 or off + cmdsize > end:
            raise _Bad
        if cmd == 0x19:  # LC_SEGMENT_64
            (nsects,) = _u(data, "<I", off + 64)
            if 72 + 80 * nsects > cmdsize:
                raise _Bad
            for s in range(nsects):
                sect = off + 72 + 80 * s
                addr, size, offset = _u(data, "<QQI", sect + 32)
                (flags,) = _u(data, "<I", sect + 64)
                sect_type = flags & 0xFF
                if flags & 0x80000400 and sect_type not in (0x1, 0xC, 0x11, 0x12):  # code, not zerofill
                    regions.append(Region(offset, size, addr))
        off += cmdsize
    return ExeLayout(FORMAT_MACHO, arch, _clean(regions, len(data)))


def detect(data: bytes | bytearray) -> ExeLayout | None:
    """The format, architecture and code regions of an executable, or None for anything else.

    Never raises on malformed input: headers that point outside the file or do not hold together
    make the file plain data (patched without the transform).
    """
    try:
        if data[:4] == b"\x7fELF" and len(data) >= 64:
            layout = _elf(data)
        elif data[:2] == b"MZ" and len(data) >= 64:
            layout = _pe(data)
        elif data[:4] == b"\xcf\xfa\xed\xfe" and len(data) >= 32:
            layout = _macho(data)
        else:
            return None
    except (_Bad, struct.error):
        return None
    if layout is None or not layout.regions:
        return None
    return layout


# ------------------------------------------------------------------------------------- references
#
# A reference is an instruction field holding a displacement to code: x86-64 ``call/jmp rel32``
# (in bytes, the field taken modulo 2^25) and arm64 ``B/BL`` (imm26, in 4-byte words, modulo 2^26).
# The transform rewrites each displacement as the one the *old* release would have had for the
# same site and target, using a bijective address map from new to old (:class:`AddressMap`): code
# that merely moved then reads exactly as in the old file, whatever moved around it.


def _positions(flags: bytes, start: int = 0) -> list[int]:
    """``start`` + the indices of the 0x01 bytes in ``flags`` (all others 0x00), without a Python-level loop."""
    pieces = flags.split(b"\x01")
    pieces.pop()
    return list(accumulate(map(len, pieces), lambda acc, n: acc + n + 1, initial=start - 1))[1:]


_X86_OPCODE = bytes(1 if b in (0xE8, 0xE9) else 0 for b in range(256))
_X86_TEST = bytes(1 if b in (0x00, 0xFF) else 0 for b in range(256))
_ARM_BRANCH = bytes(1 if (b & 0x7C) == 0x14 else 0 for b in range(256))  # top byte of B (0x14-0x17), BL (0x94-0x97)


_X86_REX = bytes(1 if 0x40 <= b <= 0x4F else 0 for b in range(256))
# opcodes whose ModRM may name [rip + disp32] and which end right after the disp32 (no immediate)
_X86_RIP_OPS = bytes(
    1 if b in (0x8B, 0x8D, 0x89, 0x03, 0x2B, 0x3B, 0x39, 0x85, 0x33, 0x0B, 0x23, 0x63, 0x8A, 0x88) else 0 for b in range(256)
)
_X86_RIP_MODRM = bytes(1 if b & 0xC7 == 0x05 else 0 for b in range(256))


_SCAN_CHUNK = 1 << 18  # bytes scanned at a time: bounds the candidate lists whatever the code holds


def _x86_chunks(region: bytes | bytearray | memoryview) -> Iterator[tuple[list[int], list[int]]]:
    """The references the transform rewrites in x86-64 code, one chunk at a time: (calls, rip).

    ``calls``: offsets j of an E8/E9 (call/jmp rel32) whose rel32 (j+1..j+4) has its top byte 00 or
    FF. ``rip``: offsets p of a REX prefix, an opcode and a ModRM naming [rip + disp32] (the
    disp32 at p+3..p+6). Scanning left to right, a candidate is taken unless it lies inside the
    previous taken one's operand, or an E8/E9 or REX byte that was not taken could have read into
    its operand (an E8/E9 reads up to 4 bytes ahead, a REX byte 2): E8/E9 in the 3 bytes before a
    call or the byte before a rip reference, REX in the byte before a call. The bytes a decision
    reads are then never inside another taken operand, and a call's top byte stays 00 or FF, so
    the scan decides the same on transformed bytes as on the original ones
    (tests/test_delta_exe.py checks it on random bytes). The scan's state carries over
    from chunk to chunk.
    """
    size = len(region)
    last = 0
    for c0 in range(0, size, _SCAN_CHUNK):
        c1 = min(size, c0 + _SCAN_CHUNK)
        base = max(0, c0 - 3)  # the scan looks up to 3 bytes back
        window = bytes(region[base : c1 + 6])  # (a copy of a view's chunk; bytes as they are)
        op = window.translate(_X86_OPCODE)
        k = c0 - base
        calls: list[int] = []
        n = min(c1, size - 4) - c0
        if n > 0:
            both = int.from_bytes(op[k : k + n], "little") & int.from_bytes(window[k + 4 : k + 4 + n].translate(_X86_TEST), "little")
            calls = _positions(both.to_bytes(n, "little"), c0)
        rips: list[int] = []
        n = min(c1, size - 6) - c0
        if n > 0:
            rip = (
                int.from_bytes(window[k : k + n].translate(_X86_REX), "little")
                & int.from_bytes(window[k + 1 : k + 1 + n].translate(_X86_RIP_OPS), "little")
                & int.from_bytes(window[k + 2 : k + 2 + n].translate(_X86_RIP_MODRM), "little")
            )
            rips = _positions(rip.to_bytes(n, "little"), c0)
        taken_calls: list[int] = []
        taken_rip: list[int] = []
        find = op.find
        for j in sorted(calls + rips):  # two sorted runs: a linear merge
            if j < last:
                continue
            if op[j - base]:  # call
                lo = j - 3 if j - 3 > last else last
                if lo < j and find(b"\x01", lo - base, j - base) >= 0:
                    continue
                if j > last and 0x40 <= region[j - 1] <= 0x4F:
                    continue
                taken_calls.append(j)
                last = j + 5
            else:  # rip-relative
                if j > last and op[j - 1 - base]:
                    continue
                taken_rip.append(j)
                last = j + 7
        yield taken_calls, taken_rip


_ARM_ADRP = bytes(1 if (b & 0x9F) == 0x90 else 0 for b in range(256))
_ARM_ADD64 = bytes(1 if b == 0x91 else 0 for b in range(256))  # ADD (immediate), 64-bit, with bits 22-23 checked below


def _arm_chunks(region: bytes | bytearray | memoryview) -> Iterator[tuple[list[int], list[int]]]:
    """(offsets of B/BL words, offsets of ADRP words followed by ``ADD Xd, Xn, #imm12`` on the same
    register), one chunk at a time.

    Every test reads opcode and register bits only, which the transform never changes, so the
    transformed code yields the same offsets.
    """
    words = len(region) // 4
    step = _SCAN_CHUNK // 4
    for w0 in range(0, words, step):
        w1 = min(words, w0 + step)
        top = bytes(region[4 * w0 + 3 : 4 * min(words, w1 + 1) : 4])  # one word more: the ADD after an ADRP
        n = w1 - w0
        branches = [4 * w for w in _positions(top[:n].translate(_ARM_BRANCH), w0)]
        m = min(n, len(top) - 1)
        adrp = int.from_bytes(top[:m].translate(_ARM_ADRP), "little") & int.from_bytes(top[1 : m + 1].translate(_ARM_ADD64), "little")
        pairs = []
        for w in _positions(adrp.to_bytes(m, "little"), w0):
            j = 4 * w
            add = int.from_bytes(region[j + 4 : j + 8], "little")
            if not add & 0x00C00000 and (add >> 5) & 0x1F == region[j] & 0x1F:
                pairs.append(j)
        yield branches, pairs


class _Arch:
    __slots__ = ("align", "bits", "unit")

    def __init__(self, *, unit: int, bits: int, align: int) -> None:
        self.unit = unit  # bytes per address unit
        self.bits = bits  # width of the displacement field, in units
        self.align = align  # instructions start at multiples of this

    @property
    def modulus(self) -> int:
        return 1 << self.bits


_ARCHES = {ARCH_X86_64: _Arch(unit=1, bits=25, align=1), ARCH_ARM64: _Arch(unit=4, bits=26, align=4)}


def _ref_chunks(arch: int, region: bytes | bytearray | memoryview) -> Iterator[tuple[list[int], list[int]]]:
    return _x86_chunks(region) if arch == ARCH_X86_64 else _arm_chunks(region)


# ------------------------------------------------------------------------------------- address map


class AddressMap(Frozen):
    """A bijection of the displacement space (units modulo 2^bits), new release -> old release.

    ``intervals`` are the matched runs ``(new start, old start, length)``, disjoint in both
    spaces; everything outside them is paired in order (the n-th unmatched new unit with the
    n-th unmatched old unit), which makes the map total and invertible.
    """

    __slots__ = ("_lists", "_packed", "intervals", "modulus")
    _fields = ("modulus", "intervals")
    modulus: int
    intervals: tuple[tuple[int, int, int], ...]
    _packed: tuple[Any, Any, Any, Any]  # the tables as int64 buffers (set when first needed, or by ppm._xform)
    _lists: tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]  # the same as lists

    def __init__(self, modulus: int, intervals: tuple[tuple[int, int, int], ...]) -> None:
        object.__setattr__(self, "modulus", modulus)
        object.__setattr__(self, "intervals", intervals)
        native = _native()
        if native is not None and 0 < modulus <= 1 << 62:  # ppm._xform builds the tables (what the C transform reads)
            try:
                flat = _array("q", [x for iv in intervals for x in iv])
            except (struct.error, TypeError):  # not int64: the Python code below refuses it
                flat = None
            if flat is not None and len(flat) == 8 * 3 * len(intervals):
                (fs, fh), (is_, ih) = native.map_tables(modulus, flat)
                object.__setattr__(self, "_packed", (fs, fh, is_, ih))
                return
        object.__setattr__(self, "_lists", _map_pieces(modulus, intervals))

    @property
    def _fwd(self) -> tuple[list[int], list[int]]:
        """(piece starts, shifts padded at the front): x's piece is shifts[bisect_right(starts, x)]."""
        return self._piece_lists()[0]

    @property
    def _inv(self) -> tuple[list[int], list[int]]:
        return self._piece_lists()[1]

    def _piece_lists(self) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
        lists = getattr(self, "_lists", None)
        if lists is None:
            fs, fh, is_, ih = (memoryview(t).cast("B").cast("q").tolist() for t in self._packed)
            lists = ((fs, fh), (is_, ih))
            object.__setattr__(self, "_lists", lists)
        return lists

    def _tables(self) -> tuple[Any, Any, Any, Any]:
        """(starts, shifts) of the forward then the inverse map as int64 buffers, for ppm._xform (made once)."""
        tables = getattr(self, "_packed", None)
        if tables is None:
            fwd, inv = self._fwd, self._inv
            tables = (_array("q", fwd[0]), _array("q", fwd[1]), _array("q", inv[0]), _array("q", inv[1]))
            object.__setattr__(self, "_packed", tables)
        return tables

    def forward(self, x: int) -> int:
        starts, shifts = self._fwd
        return x + shifts[bisect_right(starts, x)]

    def inverse(self, y: int) -> int:
        starts, shifts = self._inv
        return y + shifts[bisect_right(starts, y)]


def _map_pieces(m: int, intervals: tuple[tuple[int, int, int], ...]) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
    """:class:`AddressMap`'s tables (forward, inverse), each (piece starts, shifts padded at the
    front), in Python: the reference for ppm._xform's map_tables, and its fallback."""
    spans = sorted(intervals)
    for name, key in (("new", 0), ("old", 1)):
        end = 0
        for iv in sorted(spans, key=lambda iv: iv[key]):
            start, length = iv[key], iv[2]
            if length <= 0 or start < end or start + length > m:
                raise TransformError(f"address map intervals overlap or leave the {name} address space")
            end = start + length
    pieces = list(spans)
    gaps_new, gaps_old = _gaps([(n, ln) for n, _, ln in spans], m), _gaps(sorted((o, ln) for _, o, ln in spans), m)
    i = j = a = c = 0
    while i < len(gaps_new) and j < len(gaps_old):
        take = min(gaps_new[i][1] - a, gaps_old[j][1] - c)
        pieces.append((gaps_new[i][0] + a, gaps_old[j][0] + c, take))
        a += take
        c += take
        if a == gaps_new[i][1]:
            i, a = i + 1, 0
        if c == gaps_old[j][1]:
            j, c = j + 1, 0
    pieces.sort()
    inverse = sorted(pieces, key=lambda p: p[1])
    # shift lists padded at the front: x's piece is shifts[bisect_right(starts, x)] (the first piece starts at 0)
    return (
        ([p[0] for p in pieces], [0] + [p[1] - p[0] for p in pieces]),
        ([p[1] for p in inverse], [0] + [p[0] - p[1] for p in inverse]),
    )


def _gaps(spans: list[tuple[int, int]], m: int) -> list[tuple[int, int]]:
    out, pos = [], 0
    for start, length in spans:
        if start > pos:
            out.append((pos, start - pos))
        pos = start + length
    if pos < m:
        out.append((pos, m - pos))
    return out


_RIP_RELATIVE_PATTERN = (
    rb"((?:[\x40-\x4f][\x8b\x8d\x89\x03\x2b\x3b\x39\x85\x33\x0b\x23\x63\xc7\x81\x83\x8a\x88\x0f]|[\x8b\x8d\x89\xc7\x80\x81\x83\x3b\x39])"
    rb"[\x05\x0d\x15\x1d\x25\x2d\x35\x3d])[\x00-\xff]{4}"
)
_RIP_RELATIVE: list[re.Pattern[bytes]] = []  # compiled on first use: only making a patch needs it


def _rip_relative() -> re.Pattern[bytes]:
    if not _RIP_RELATIVE:
        import re

        _RIP_RELATIVE.append(re.compile(_RIP_RELATIVE_PATTERN))
    return _RIP_RELATIVE[0]
_ANCHOR = 32  # bytes of masked code from a reference that must match (and be unique) on both sides
_MAX_INTERVALS = 1 << 20


def _masked(np: Any, arch: int, region: bytes | memoryview, refs: Any) -> bytes | bytearray:
    """``region`` with the fields that change when code or data moves zeroed, for matching only."""
    m = bytearray(region)
    _mask_np(np, arch, memoryview(m), refs)
    return m


def _mask_np(np: Any, arch: int, region: memoryview, refs: Any) -> memoryview:
    """:func:`_masked` in place, on a writable view (masking through the regex's substitution or
    whole-array temporaries held several copies of the code at once)."""
    view = np.frombuffer(region, dtype=np.uint8)
    if arch == ARCH_X86_64:
        # each match ends with the 4 displacement bytes; matches do not overlap, as re.sub's did not
        ends = np.fromiter((mo.end() for mo in _rip_relative().finditer(region)), dtype=np.int64)
        for k in range(1, 5):
            view[ends - k] = 0
            view[refs + k] = 0  # calls; the rip references are among the regex's matches
        return region
    n = len(region) // 4
    step = _NP_CHUNK // 4  # words at a time: the masks' temporaries stay a few MiB whatever the code's size
    for a in range(0, n, step):
        b = min(n, a + step)
        words = view[4 * a : 4 * b].view("<u4")
        top = view[4 * a + 3 : 4 * b : 4]
        # B/BL imm26, ADRP immhi:immlo, ADD (immediate, 64-bit) and LDR/STR (unsigned offset, 64-bit)
        # imm12 (the three classes of top byte are disjoint)
        field = np.zeros(b - a, dtype=np.uint32)
        field[(top & 0x7C) == 0x14] = 0x03FFFFFF
        field[(top & 0x9F) == 0x90] = 0x60FFFFE0
        field[(top == 0x91) | (top == 0xF9)] = 0x003FFC00
        np.invert(field, out=field)
        words &= field
    return region


def _masked_py(arch: int, region: bytes, refs: Iterable[int]) -> bytes:
    """``region`` with the fields that change when code or data moves zeroed, for matching only (small code)."""
    if arch == ARCH_X86_64:
        m = bytearray(_rip_relative().sub(lambda mo: mo.group(1) + b"\0\0\0\0", region))
        zero = bytes(4)
        for j in refs:
            m[j + 1 : j + 5] = zero  # calls; the rip references are among the regex's matches
        return bytes(m)
    tables = _arm_mask_tables()
    n = len(region) // 4
    out = bytearray(len(region))
    # a slice of words at a time (each word is masked on its own, so the bytes are the same): whole-code
    # integers held about five copies of the code at once, the planning's peak on rollup arm64
    for a in range(0, n, _PY_MASK_WORDS):
        b = min(n, a + _PY_MASK_WORDS)
        x = int.from_bytes(region[4 * a : 4 * b], "little")
        top = region[4 * a + 3 : 4 * b : 4]
        field = 0
        for table, bits in tables:
            field |= _lane_mask(top.translate(table), bits, b - a)
        out[4 * a : 4 * b] = (x & ~field).to_bytes(4 * (b - a), "little")
    out[4 * n :] = region[4 * n :]
    return bytes(out)


_PY_MASK_WORDS = 1 << 14  # 64 KiB of arm64 code at a time (:func:`_masked_py`)


def _mask_py(arch: int, region: memoryview, refs: Iterable[int]) -> memoryview:
    """:func:`_masked_py` in place, on a writable view (the same bytes)."""
    zero = bytes(4)
    if arch == ARCH_X86_64:
        from array import array

        ends = array("q", [mo.end() for mo in _rip_relative().finditer(region)])  # before any byte changes
        for e in ends:
            region[e - 4 : e] = zero
        for j in refs:
            region[j + 1 : j + 5] = zero  # calls; the rip references are among the regex's matches
        return region
    tables = _arm_mask_tables()
    n = len(region) // 4
    for a in range(0, n, _PY_MASK_WORDS):
        b = min(n, a + _PY_MASK_WORDS)
        x = int.from_bytes(region[4 * a : 4 * b], "little")
        top = bytes(region[4 * a + 3 : 4 * b : 4])
        field = 0
        for table, bits in tables:
            field |= _lane_mask(top.translate(table), bits, b - a)
        region[4 * a : 4 * b] = (x & ~field).to_bytes(4 * (b - a), "little")
    return region


def _arm_mask_tables() -> tuple[tuple[bytes, int], ...]:
    """(top-byte flags, field mask): B/BL imm26, ADRP immhi:immlo, ADD (immediate, 64-bit) and
    LDR/STR (unsigned offset, 64-bit) imm12."""
    return (
        (_ARM_BRANCH, 0x03FFFFFF),
        (bytes(1 if (b & 0x9F) == 0x90 else 0 for b in range(256)), 0x60FFFFE0),
        (bytes(1 if b in (0x91, 0xF9) else 0 for b in range(256)), 0x003FFC00),
    )


def _lane_mask(flags: bytes, value: int, n: int) -> int:
    """An integer of n 32-bit lanes: ``value`` in the lanes whose flag byte is 1, 0 elsewhere."""
    m = bytearray(4 * n)
    for k in range(4):
        byte = (value >> (8 * k)) & 0xFF
        if byte:
            m[k::4] = flags.translate(bytes((0, byte)) + bytes(254))
    return int.from_bytes(m, "little")


def _refs_py(arch: int, region: bytes | bytearray | memoryview) -> tuple[Any, Any]:
    """(branch references, data references) in ``region`` (small code, without numpy), as int64
    arrays: 8 bytes a reference where a list of Python integers takes about 40 (rollup: 6 MB less)."""
    from array import array

    branches, data = array("q"), array("q")
    for b, d in _ref_chunks(arch, region):
        branches.extend(b)
        data.extend(d)
    return branches, data


def _refs_np(np: Any, arch: int, region: bytes | memoryview) -> tuple[Any, Any]:
    """(branch references, data references) in ``region``, as int64 arrays of offsets."""
    if arch == ARCH_X86_64:
        chunks: Iterator[tuple[Any, Any]] = _x86_scan_np(np, np.frombuffer(region, dtype=np.uint8), _NP_CHUNK)
    else:
        chunks = iter(_arm_chunks(region))
    branches, data = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for b, d in chunks:
        branches.append(np.asarray(b, dtype=np.int64))
        data.append(np.asarray(d, dtype=np.int64))
    return np.concatenate(branches), np.concatenate(data)


def _unique_anchors(np: Any, masked: bytes | bytearray, refs: Any) -> tuple[Any, Any]:
    """(key hashes, offsets) of the _ANCHOR-byte keys at ``refs`` that occur once among them, by hash.

    A key is hashed from its four 64-bit words; two keys with one hash count as one (both
    dropped, or a false anchor whose extension finds nothing): that costs a match at worst,
    never correctness, since any map transforms exactly.

    Memory (the planning's peak on large code): ``refs`` is taken over (the caller passes a
    temporary), the hashes are computed a slice at a time (temporaries of one slice, not of every
    reference), and sorted in place beside their order: about 3 arrays of 8 bytes a reference at once.
    """
    keep = refs <= len(masked) - _ANCHOR
    p = refs if keep.all() else refs[keep]
    del refs, keep
    if not len(p):
        return np.zeros(0, dtype=np.uint64), p
    words = np.ndarray((len(masked) - 7,), dtype="<u8", buffer=masked, strides=(1,))  # the 8 bytes at each offset
    h = np.empty(len(p), dtype=np.uint64)
    step = 1 << 16
    for a in range(0, len(p), step):
        pa = p[a : a + step]
        ha = words[pa]
        for k in range(8, _ANCHOR, 8):
            ha *= np.uint64(0x9E3779B97F4A7C15)
            ha ^= ha >> np.uint64(29)
            ha ^= words[pa + k]  # (np.take would copy the whole strided view first)
        h[a : a + step] = ha
    del pa, ha
    # the keys that occur once, and where: sorted (as np.unique would return them) without
    # np.unique's stable sort, index and count arrays (a key that occurs once has one position)
    order = np.argsort(h)
    h.sort()  # the same values as h[order], without a second array
    once = np.ones(len(h), dtype=np.bool_)
    once[1:] &= h[1:] != h[:-1]
    once[:-1] &= h[:-1] != h[1:]
    at = order[once]
    del order
    return h[once], p[at]


def _extend(a: bytes | bytearray, i: int, b: bytes | bytearray, j: int, back: int, fwd: int) -> tuple[int, int]:
    """How far a[i:] and b[j:] keep matching backwards (at most ``back``) and forwards (``fwd``).

    Galloping (64, 128, 256, ... bytes) then bisecting, so the cost follows the match's length.
    """

    def longest(limit: int, same: Callable[[int], bool]) -> int:
        lo, step = 0, 64
        while lo < limit:
            hi = min(limit, lo + step)
            if not same(hi):
                break
            lo, step = hi, step * 2
        else:
            return lo
        hi -= 1  # same(lo) holds, same(hi + 1) does not
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if same(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo

    b_len = longest(min(back, i, j), lambda k: a[i - k : i] == b[j - k : j])
    f_len = longest(min(fwd, len(a) - i, len(b) - j), lambda k: a[i : i + k] == b[j : j + k])
    return b_len, f_len


class ExeMaps(Frozen):
    """The maps a transform needs: code (branch targets) and data (rip-relative targets; x86-64)."""

    __slots__ = _fields = ("code", "data")
    code: AddressMap
    data: AddressMap

    def __init__(self, code: AddressMap, data: AddressMap) -> None:
        self._init(code, data)


DATA_BITS = {ARCH_X86_64: 32, ARCH_ARM64: 33}  # rip + disp32; ADRP page (21 bits) and ADD imm12


def build_map(
    old: bytes | bytearray, old_layout: ExeLayout, new: bytes | bytearray, new_layout: ExeLayout, *, engine: str = "auto",
    scratch: bool = False,
) -> ExeMaps:
    """Match the largest code region of each release and turn the matches into address maps.

    Code: anchors are the masked bytes from each call/branch (displacements zeroed, so code that
    moved still matches), unique in both releases; each matched pair is extended both ways while
    the masked bytes agree. Data: a data reference in matched code points, in the old release, to
    what the same reference in the new one points to; runs of such target pairs with one shift
    make the data map. ``engine`` as for :func:`transform`, all giving the same maps: ``c`` plans in
    C (ppm/_xform.c: the references, masking, anchors, runs and the data map's votes), ``python``
    in Python alone, ``numpy`` with numpy; ``auto`` in C whenever ppm._xform has the planning's
    functions, at any size (measured against numpy on uv x86-64 0.13.8 -> 0.13.9: 44 MB over the
    two files instead of 65 and 0.4 s of CPU instead of 1.7, without numpy's import; esbuild: 10 MB
    instead of 19, 0.07 s instead of 0.33), else in Python on code under _NUMPY_MIN_CODE and with
    numpy on larger code.
    ``scratch``: ``old`` and ``new`` are bytearrays the caller no longer needs as they are: the C
    and numpy engines mask their largest code regions in place instead of in copies (the code is
    most of the file: on uv that saves 60 MB of the planning's peak); the maps are the same.
    """
    ro = max(old_layout.regions, key=lambda r: r.size)
    rn = max(new_layout.regions, key=lambda r: r.size)
    in_c = engine in ("auto", "c") and _native_with(*_PLANNING, engine=engine) is not None
    if engine == "c" and not in_c:
        raise RuntimeError("the C planning (ppm._xform) is not built here")
    if engine == "python" or in_c or (engine == "auto" and max(ro.size, rn.size) < _NUMPY_MIN_CODE):
        return _build_map_tail(new_layout.arch, ro, rn, *_anchor_pairs_py(new_layout.arch, old, ro, new, rn, engine, scratch), engine=engine)
    return _build_map_tail(new_layout.arch, ro, rn, *_anchor_pairs_np(new_layout.arch, old, ro, new, rn, scratch), engine=engine)


if TYPE_CHECKING:
    _DataMap = Callable[[AddressMap], AddressMap]

_PLANNING = ("scan", "mask", "anchor_pairs", "extend_runs", "data_votes")  # build_map's functions in ppm._xform


def _memoryview_pairs(packed: memoryview, step: int = 1 << 14) -> Iterator[tuple[int, int]]:
    """(new, old) pairs from ppm._xform.anchor_pairs' int64 buffer, as Python integers a slice at a time."""
    for a in range(0, len(packed), 2 * step):
        chunk = packed[a : a + 2 * step].tolist()
        yield from zip(chunk[0::2], chunk[1::2], strict=True)


def _native_with(*names: str, engine: str = "auto") -> Any:
    """ppm._xform when ``engine`` may use it and it has all of ``names`` (a module built from an
    older source lacks the newer ones: the Python code then does their work), else None."""
    native = _native() if engine != "python" else None
    if native is None or not all(hasattr(native, n) for n in names):
        return None
    return native


def _anchor_pairs_py(
    arch: int, old: bytes | bytearray, ro: Region, new: bytes | bytearray, rn: Region, engine: str = "auto",
    scratch: bool = False,
) -> tuple[bytes | Iterable[tuple[int, int]], Any, Any, _DataMap | None]:
    """The anchors (new offset, old offset) in the new release's order, both masked codes and the
    data map's maker (None without data references), for small code (without numpy). The anchors
    are ppm._xform.anchor_pairs' int64 bytes when it paired them, else (new, old) tuples."""
    native = _native_with("anchor_pairs", engine=engine)
    scan = _native_with("scan", engine=engine)
    # ``scratch`` with the anchors paired in C: each side's code is read and masked where it lies in
    # the caller's bytearray (views, no copies: on rollup the two copies, the masking's temporaries
    # and _extend's slices were most of the planning's peak). Otherwise one side at a time, each
    # copy of the code dropped once its references, their targets and its masked copy are read from it.
    in_place = native is not None and scratch and isinstance(old, bytearray) and isinstance(new, bytearray)

    mask = _native_with("mask", engine=engine)

    def side(buf: bytes | bytearray, r: Region) -> tuple[Any, Any, Any, Any]:
        view = memoryview(buf)[r.offset : r.offset + r.size]
        code: bytes | bytearray | memoryview = view if in_place else bytearray(view) if mask is not None else bytes(view)
        refs: Any
        if scan is not None:  # in C: int64 bytes, where _refs_py's chunks of Python integers grew the heap ~3 MB on rollup
            refs, data, targets = (memoryview(x).cast("q") for x in scan.scan(arch, code, r.vaddr))
        else:
            refs, data = _refs_py(arch, code)
            targets = _targets_py(arch, code, r.vaddr, data)
        masked: Any
        if mask is not None:  # in C, in place (in the caller's bytearray, or in this side's copy)
            mask.mask(arch, code, refs)
            masked = code
        elif isinstance(code, memoryview):
            masked = _mask_py(arch, code, refs)
        else:
            masked = _masked_py(arch, bytes(code), refs)
        if native is not None:  # the anchors' references, in one buffer for anchor_pairs
            refs = b"".join((refs, data))
        return refs, data, targets, masked

    old_refs, old_data, old_targets, om = side(old, ro)
    new_refs, new_data, new_targets, nm = side(new, rn)

    # keyed by the key's hash, not the key: a dict of 32-byte keys was the planning's peak (rollup:
    # 9 MB a side). Keys that share a hash count as one, as in the numpy engine (_unique_anchors);
    # a pair is checked byte for byte below, so a shared hash costs an anchor at worst. With a 64-bit
    # hash that is about one chance in 10^10 on 100,000 references; a 32-bit one would drop anchors
    # now and then (and which ones would vary with the hash seed), so there the key itself is used.
    key_of: Callable[[bytes], object] = hash if sys.hash_info.width >= 64 else bytes

    def anchors(masked: bytes, refs: Iterable[int]) -> dict[object, int]:
        seen: dict[object, int] = {}
        for j in refs:
            key = masked[j : j + _ANCHOR]
            if len(key) == _ANCHOR:
                h = key_of(key)
                seen[h] = -1 if h in seen else j
        return seen

    pairs: bytes | Iterable[tuple[int, int]]
    if native is not None:
        # in C (ppm/_xform.c): 16 bytes a reference, where the two dicts and the list of pairs
        # below held about 10 MB of Python objects on rollup (the planning's peak)
        pairs = native.anchor_pairs(om, old_refs, nm, new_refs)
    else:
        in_old = anchors(om, chain(old_refs, old_data))
        pairs = sorted(
            (j, i)
            for h, j in anchors(nm, chain(new_refs, new_data)).items()
            if j >= 0 and (i := in_old.get(h, -1)) >= 0 and nm[j : j + _ANCHOR] == om[i : i + _ANCHOR]
        )
        del in_old
    del old_refs, new_refs

    votes = _native_with("data_votes", engine=engine)

    def data_map(code: AddressMap) -> AddressMap:
        if votes is None:
            return _data_map_py(arch, code, ro.vaddr, old_data, old_targets, rn.vaddr, new_data, new_targets)
        return _data_map_native(votes, arch, code, ro.vaddr, old_data, old_targets, rn.vaddr, new_data, new_targets)

    return pairs, om, nm, data_map if len(old_data) and len(new_data) else None


def _anchor_pairs_np(
    arch: int, old: bytes | bytearray, ro: Region, new: bytes | bytearray, rn: Region, scratch: bool = False
) -> tuple[Iterable[tuple[int, int]], Any, Any, _DataMap | None]:
    """:func:`_anchor_pairs_py` with numpy (large code): the same anchors, a fraction of the memory."""
    np = _numpy()

    # views, not copies: the code is most of the file
    old_code, new_code = memoryview(old)[ro.offset : ro.offset + ro.size], memoryview(new)[rn.offset : rn.offset + rn.size]
    (old_refs, old_data), (new_refs, new_data) = _refs_np(np, arch, old_code), _refs_np(np, arch, new_code)
    # the data references' targets, read before the code is masked (masking zeroes their fields)
    old_targets = _data_targets(np, arch, old_code, old_data, _data_sites(np, arch, ro.vaddr, old_data))
    new_targets = _data_targets(np, arch, new_code, new_data, _data_sites(np, arch, rn.vaddr, new_data))
    om: Any
    nm: Any
    if scratch:
        om, nm = _mask_np(np, arch, old_code, old_refs), _mask_np(np, arch, new_code, new_refs)
    else:
        om, nm = _masked(np, arch, old_code, old_refs), _masked(np, arch, new_code, new_refs)
    del old_code, new_code
    # anchors: keys unique in each release, present in both, in the new release's order
    keys_new, at_new = _unique_anchors(np, nm, np.concatenate((new_refs, new_data)))
    keys_old, at_old = _unique_anchors(np, om, np.concatenate((old_refs, old_data)))
    del old_refs, new_refs
    _, i_new, i_old = np.intersect1d(keys_new, keys_old, assume_unique=True, return_indices=True)
    del keys_new, keys_old
    order = np.argsort(at_new[i_new], kind="stable")
    pairs = _py_pairs(at_new[i_new][order], at_old[i_old][order])
    del at_new, at_old, i_new, i_old, order

    def data_map(code: AddressMap) -> AddressMap:
        return _data_map(np, arch, code, ro.vaddr, old_data, old_targets, rn.vaddr, new_data, new_targets)

    return pairs, om, nm, data_map if len(old_data) and len(new_data) else None


def _py_pairs(a: Any, b: Any, step: int = 1 << 16) -> Iterator[tuple[int, int]]:
    """zip(a.tolist(), b.tolist()) a slice at a time: Python integers for one slice, not for every
    anchor at once (36 bytes each: tens of MB on uv)."""
    for i in range(0, len(a), step):
        yield from zip(a[i : i + step].tolist(), b[i : i + step].tolist(), strict=True)


def _build_map_tail(
    arch_id: int, ro: Region, rn: Region, pairs: bytes | Iterable[tuple[int, int]], om: Any, nm: Any, data_map: _DataMap | None,
    *, engine: str = "auto",
) -> ExeMaps:
    """Extend the anchors into runs of matching code, and make the maps. ``pairs``: (new, old)
    offsets, or ppm._xform.anchor_pairs' int64 bytes of them."""
    arch = _ARCHES[arch_id]
    runs: list[tuple[int, int, int]]  # (new offset, old offset, length) within the regions
    native = _native_with("extend_runs", engine=engine) if isinstance(pairs, bytes) else None
    if native is not None:
        # in C (ppm/_xform.c): a byte loop where _extend's slices copied up to the whole code twice
        flat = memoryview(native.extend_runs(nm, om, pairs, (rn.vaddr - ro.vaddr) % arch.align, arch.align)).cast("q").tolist()
        runs = list(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))
        del flat
    else:
        runs = _extend_runs_py(arch, ro, rn, _memoryview_pairs(memoryview(pairs).cast("q")) if isinstance(pairs, bytes) else pairs, om, nm)
    # keep the runs disjoint in the old release too (the longer one wins)
    kept: list[tuple[int, int, int]] = []
    for run in sorted(runs, key=lambda r: r[1]):
        if kept and run[1] < kept[-1][1] + kept[-1][2]:
            if run[2] > kept[-1][2]:
                kept[-1] = run
            continue
        kept.append(run)
    m, u = arch.modulus, arch.unit
    intervals = []
    for n_off, o_off, length in kept:
        n_start = -(-(rn.vaddr + n_off) // u)  # whole units inside the run
        n_end = (rn.vaddr + n_off + length) // u
        o_start = n_start - (rn.vaddr + n_off - ro.vaddr - o_off) // u
        n_start, o_start, count = n_start % m, o_start % m, n_end - n_start
        if count > 0 and n_start + count <= m and o_start + count <= m:
            intervals.append((n_start, o_start, count))
    code = _disjoint(intervals[:_MAX_INTERVALS], m)
    if data_map is None:
        return ExeMaps(code, AddressMap(1 << DATA_BITS[arch_id], ()))
    return ExeMaps(code, data_map(code))


def _extend_runs_py(
    arch: _Arch, ro: Region, rn: Region, pairs: Iterable[tuple[int, int]], om: Any, nm: Any
) -> list[tuple[int, int, int]]:
    """Each anchor pair not inside the last run, at a shift the architecture's alignment allows,
    extended both ways while the masked bytes agree: (new offset, old offset, length) runs. The
    reference for ppm._xform.extend_runs, and its fallback."""
    runs: list[tuple[int, int, int]] = []
    end = 0
    for nj, oj in pairs:
        if nj < end or (rn.vaddr + nj - ro.vaddr - oj) % arch.align:
            continue
        back, fwd = _extend(nm, nj, om, oj, nj - end, len(nm))
        runs.append((nj - back, oj - back, back + fwd))
        end = nj + fwd
    return runs


def _data_sites(np: Any, arch: int, vaddr: int, p: Any) -> Any:
    """The addresses the data references at region offsets ``p`` are relative to (the next instruction; ADRP's own)."""
    m = (1 << DATA_BITS[arch]) - 1
    return (((vaddr + 7 if arch == ARCH_X86_64 else vaddr) & m) + p) & m


def _data_targets(np: Any, arch: int, code: bytes | memoryview, p: Any, site: Any) -> Any:
    src = np.frombuffer(code, dtype=np.uint8)
    if arch == ARCH_X86_64:
        return (site + _np_le32(src, p + 3)) & 0xFFFFFFFF
    adrp, add = _np_le32(src, p), _np_le32(src, p + 4)
    page = ((site >> 12) + (((adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29) & 3)) & 0x1FFFFF
    return page << 12 | (add >> 10) & 0xFFF


def _data_map(
    np: Any, arch: int, code: AddressMap, old_vaddr: int, old_refs: Any, old_targets: Any, new_vaddr: int, new_refs: Any,
    new_targets: Any,
) -> AddressMap:
    """Each data reference in the new release whose site sat, by the code map, where a data
    reference of the old release sits votes for (its target, that one's target); each new target
    keeps the old target with the most votes (the first seen on a tie). ``*_targets``: each
    reference's target (:func:`_data_targets`)."""
    old_sites = _data_sites(np, arch, old_vaddr, old_refs)
    order = np.argsort(old_sites, kind="stable")
    old_sites, old_targets = old_sites[order], old_targets[order]
    # where each new site sat in the old release, by the code map's shift there (in bytes)
    sites = _data_sites(np, arch, new_vaddr, new_refs)
    m, unit = code.modulus, _ARCHES[arch].unit
    shift = _np_shift(np, _np_map(np, code)[0], (sites // unit) & (m - 1)) & (m - 1)
    shift = np.where(shift >= m >> 1, shift - m, shift)
    then = (sites + shift * unit) & ((1 << DATA_BITS[arch]) - 1)
    k = np.searchsorted(old_sites, then, side="right") - 1  # the last of equal sites, as a dict would keep
    hit = (k >= 0) & (old_sites[np.maximum(k, 0)] == then)
    t_old = old_targets[k[hit]]
    t_new = new_targets[hit]
    n = len(t_new)
    if not n:
        return AddressMap(1 << DATA_BITS[arch], ())
    o = np.lexsort((np.arange(n), t_old, t_new))  # by new target, old target, first seen
    tn, to = t_new[o], t_old[o]
    start = np.ones(n, dtype=np.bool_)
    start[1:] = (tn[1:] != tn[:-1]) | (to[1:] != to[:-1])
    g = np.flatnonzero(start)
    votes, first = np.diff(np.append(g, n)), o[g]
    best = np.lexsort((first, -votes, tn[g]))
    g_new, g_old = tn[g][best], to[g][best]
    keep = np.ones(len(g_new), dtype=np.bool_)
    keep[1:] = g_new[1:] != g_new[:-1]
    pairs = zip(g_new[keep].tolist(), g_old[keep].tolist(), strict=True)
    return _disjoint(_runs(pairs)[:_MAX_INTERVALS], 1 << DATA_BITS[arch])


_WORD = struct.Struct("<I")


def _data_site(arch: int, vaddr: int, p: int) -> int:
    """The address a data reference at region offset ``p`` is relative to (the next instruction; ADRP's own)."""
    return (vaddr + p + 7 if arch == ARCH_X86_64 else vaddr + p) & ((1 << DATA_BITS[arch]) - 1)


def _data_target(arch: int, code: bytes | bytearray | memoryview, p: int, site: int) -> int:
    unpack = _WORD.unpack_from
    if arch == ARCH_X86_64:
        return (site + unpack(code, p + 3)[0]) & 0xFFFFFFFF
    adrp, add = unpack(code, p)[0], unpack(code, p + 4)[0]
    page = ((site >> 12) + (((adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29) & 3)) & 0x1FFFFF
    return page << 12 | (add >> 10) & 0xFFF


def _old_site(arch: int, code: AddressMap, site: int) -> int:
    """Where code at ``site`` sat in the old release, by the code map's shift there (in bytes)."""
    m, unit = code.modulus, _ARCHES[arch].unit
    low = (site // unit) & (m - 1)
    shift = (code.forward(low) - low) & (m - 1)
    if shift >= m >> 1:
        shift -= m
    return (site + shift * unit) & ((1 << DATA_BITS[arch]) - 1)


def _targets_py(arch: int, code: bytes | bytearray | memoryview, vaddr: int, refs: Iterable[int]) -> Any:
    """Each data reference's target (:func:`_data_target`), as an int64 array, for :func:`_data_map_py`:
    read before the code is dropped, so that the planning need not keep a copy of it for them."""
    from array import array

    return array("q", [_data_target(arch, code, p, _data_site(arch, vaddr, p)) for p in refs])


def _data_map_py(
    arch: int, code: AddressMap, old_vaddr: int, old_refs: Iterable[int], old_targets: Iterable[int], new_vaddr: int,
    new_refs: Iterable[int], new_targets: Iterable[int],
) -> AddressMap:
    """:func:`_data_map` for small code, without numpy; ``*_targets`` from :func:`_targets_py`."""
    pairs = _data_votes_py(arch, code, old_vaddr, old_refs, old_targets, new_vaddr, new_refs, new_targets)
    return _disjoint(_runs(pairs)[:_MAX_INTERVALS], 1 << DATA_BITS[arch])


def _data_votes_py(
    arch: int, code: AddressMap, old_vaddr: int, old_refs: Iterable[int], old_targets: Iterable[int], new_vaddr: int,
    new_refs: Iterable[int], new_targets: Iterable[int],
) -> list[tuple[int, int]]:
    """:func:`_data_map_py`'s voting: (new target, the old target with the most votes) by new target.
    The reference for ppm._xform.data_votes, and its fallback."""
    by_site = {}
    for p, t in zip(old_refs, old_targets, strict=True):
        by_site[_data_site(arch, old_vaddr, p)] = t
    votes: dict[int, dict[int, int]] = {}
    for p, t in zip(new_refs, new_targets, strict=True):
        target_old = by_site.get(_old_site(arch, code, _data_site(arch, new_vaddr, p)))
        if target_old is not None:
            per = votes.setdefault(t, {})
            per[target_old] = per.get(target_old, 0) + 1
    return sorted((t, max(per, key=per.__getitem__)) for t, per in votes.items())


def _data_map_native(
    native: Any, arch: int, code: AddressMap, old_vaddr: int, old_refs: Any, old_targets: Any, new_vaddr: int, new_refs: Any,
    new_targets: Any,
) -> AddressMap:
    """:func:`_data_map_py` with its voting in C (ppm._xform.data_votes): the dicts of sites and of
    votes were the planning's peak on rollup once the rest was in C. ``*_refs``, ``*_targets``: int64 buffers."""
    fs, fh = code._tables()[:2]
    flat = memoryview(native.data_votes(arch, fs, fh, old_vaddr, old_refs, old_targets, new_vaddr, new_refs, new_targets)).cast("q")
    return _disjoint(_runs(_memoryview_pairs(flat))[:_MAX_INTERVALS], 1 << DATA_BITS[arch])


def _runs(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Sorted (new target, old target) pairs as intervals (new, old, length): a pair with the
    same shift as the run before it grows that run to cover it."""
    intervals: list[tuple[int, int, int]] = []
    for t, o in pairs:
        if intervals:
            n0, o0, _ = intervals[-1]
            if t - n0 == o - o0:
                intervals[-1] = (n0, o0, t - n0 + 1)
                continue
        intervals.append((t, o, 1))
    return intervals


def _disjoint(intervals: list[tuple[int, int, int]], m: int) -> AddressMap:
    """Drop intervals that overlap an earlier one in either space (after reduction modulo m)."""
    out: list[tuple[int, int, int]] = []
    for iv in sorted(intervals):
        if out and iv[0] < out[-1][0] + out[-1][2]:
            continue
        out.append(iv)
    final: list[tuple[int, int, int]] = []
    for iv in sorted(out, key=lambda iv: iv[1]):
        if final and iv[1] < final[-1][1] + final[-1][2]:
            continue
        final.append(iv)
    # neighbours in both spaces with the same shift become one interval (the gap between them
    # moved with them): a smaller map, and targets in the gap follow their neighbours
    old_rank = {iv: k for k, iv in enumerate(final)}
    merged: list[tuple[int, int, int]] = []
    for iv in sorted(final):
        if merged:
            n, o, _ = merged[-1]
            if iv[0] - n == iv[1] - o and old_rank[iv] == old_rank[merged[-1]] + 1:
                merged[-1] = (n, o, iv[0] + iv[2] - n)
                old_rank[merged[-1]] = old_rank[iv]
                continue
        merged.append(iv)
    return AddressMap(m, tuple(merged))


# ------------------------------------------------------------------------------------- transform


def transform(buf: bytearray, layout: ExeLayout, maps: ExeMaps, *, encode: bool, engine: str = "auto") -> int:
    """Rewrite (``encode``) or restore every reference in ``buf``'s code regions, in place.

    Returns how many references were rewritten. Encoding maps a branch displacement ``d`` at site
    ``s`` to ``code(s + d) - code(s)``, and a rip-relative one to ``data(s + d) - old_site(s)``;
    decoding finds the same sites (see :func:`_x86_chunks`) and inverts the arithmetic, all modulo
    the field's width, so the result is exact. ``engine``: ``c`` (ppm/_xform.c), ``python`` (a
    loop over the references, the reference the others are tested against), ``numpy``
    (vectorised, :func:`_transform_np`) or ``auto`` (C when it is built; else numpy from
    _NUMPY_MIN_CODE bytes of code on); all give the same bytes. The regions and maps are checked
    first (TransformError), so a bad descriptor changes nothing.
    """
    _check(buf, layout, maps)
    native = _native() if engine in ("auto", "c") else None
    if native is not None:
        code, data = maps.code._tables(), maps.data._tables()
        regions = _array("Q", [v for r in layout.regions for v in (r.offset, r.size, r.vaddr)])
        return int(native.transform(buf, layout.arch, regions, *code, *data, encode))
    if engine == "c":
        raise RuntimeError("the C transform (ppm._xform) is not built here")
    if engine == "numpy" or (engine == "auto" and layout.code_size >= _NUMPY_MIN_CODE):
        return _transform_np(buf, layout, maps, encode=encode)
    return _transform_py(buf, layout, maps, encode=encode)


def _check(buf: bytearray, layout: ExeLayout, maps: ExeMaps) -> None:
    """TransformError unless every region lies in ``buf`` (arm64 ones at word addresses) and the
    maps are of the architecture's address spaces; before any byte changes."""
    if layout.arch not in _ARCHES:
        raise TransformError(f"unknown architecture {layout.arch}")
    if maps.code.modulus != _ARCHES[layout.arch].modulus or maps.data.modulus != 1 << DATA_BITS[layout.arch]:
        raise TransformError("address maps of another architecture")
    for r in layout.regions:
        if not (r.offset >= 0 and r.size >= 0 and r.offset + r.size <= len(buf) and 0 <= r.vaddr < 1 << 64):
            raise TransformError("code region outside the file")
        if layout.arch == ARCH_ARM64 and r.vaddr % 4 and r.size >= 4:
            raise TransformError("arm64 code region at an unaligned address")


_NATIVE: list[Any] = []  # [ppm._xform or None], once looked for


def _native() -> Any:
    """ppm._xform (the C engine), or None when it is not built (PPM_NO_NATIVE=1, or no C compiler at install)."""
    if not _NATIVE:
        _NATIVE.append(_load_native())
    return _NATIVE[0]


def _load_native() -> Any:
    if os.environ.get("PPM_NO_NATIVE") == "1":
        return None
    try:
        from ppm import _xform
    except ImportError:
        return None
    return _xform


def _array(code: str, values: list[int]) -> bytes:
    """``values`` packed as native 64-bit integers (``code`` "q" or "Q"), the buffers ppm._xform
    reads; struct.error when one does not fit. (struct rather than the array module, which imports
    collections.abc: 3 ms of a 30 ms `ppm patch apply`.)"""
    return struct.pack(f"={len(values)}{code}", *values)


def _transform_py(buf: bytearray, layout: ExeLayout, maps: ExeMaps, *, encode: bool) -> int:
    """:func:`transform`'s Python loop: the reference the other engines are tested against."""
    arch = _ARCHES[layout.arch]
    mask = arch.modulus - 1
    # the hot loop: bound methods and locals only (AddressMap.forward/inverse inlined)
    fs, fsh = maps.code._fwd
    is_, ish = maps.code._inv
    ds, dsh = maps.data._fwd
    dis, dish = maps.data._inv
    br = bisect_right
    word = struct.Struct("<I")
    unpack_from, pack_into = word.unpack_from, word.pack_into
    count = 0
    for r in layout.regions:
        if r.offset + r.size > len(buf):
            raise TransformError("code region outside the file")
        region = bytes(memoryview(buf)[r.offset : r.offset + r.size])
        for refs, data_refs in _ref_chunks(layout.arch, region):  # chunks bound the lists of sites
            count += len(refs) + len(data_refs)
            if layout.arch == ARCH_X86_64:
                site0, at = r.vaddr + 5, r.offset + 1
                for j in refs:
                    d = unpack_from(region, j + 1)[0] & 0x1FFFFFF  # rel32's top byte is 00 or FF: bits 24-31 agree
                    s = (site0 + j) & mask
                    hs = s + fsh[br(fs, s)]
                    if encode:
                        t = (s + d) & mask
                        v = (t + fsh[br(fs, t)] - hs) & mask
                    else:
                        t = (hs + d) & mask
                        v = (t + ish[br(is_, t)] - s) & mask
                    pack_into(buf, at + j, v | 0xFE000000 if v & 0x1000000 else v)
                m32, half = 0xFFFFFFFF, arch.modulus >> 1
                site0, at = r.vaddr + 7, r.offset + 3
                for j in data_refs:
                    d = unpack_from(region, j + 3)[0]
                    site = (site0 + j) & m32
                    s = site & mask
                    shift = fsh[br(fs, s)] & mask  # the code map's shift at the site: where it sat in the old release
                    old_site = (site + shift - (arch.modulus if shift >= half else 0)) & m32
                    if encode:
                        t = (site + d) & m32
                        v = (t + dsh[br(ds, t)] - old_site) & m32
                    else:
                        t = (old_site + d) & m32
                        v = (t + dish[br(dis, t)] - site) & m32
                    pack_into(buf, at + j, v)
            else:
                if r.vaddr % 4:
                    raise TransformError("arm64 code region at an unaligned address")
                site0, at = r.vaddr >> 2, r.offset
                for j in refs:
                    w = unpack_from(region, j)[0]
                    d = w & 0x3FFFFFF
                    s = (site0 + (j >> 2)) & mask
                    hs = s + fsh[br(fs, s)]
                    if encode:
                        t = (s + d) & mask
                        v = (t + fsh[br(fs, t)] - hs) & mask
                    else:
                        t = (hs + d) & mask
                        v = (t + ish[br(is_, t)] - s) & mask
                    pack_into(buf, at + j, w & 0xFC000000 | v)
                # ADRP + ADD pairs: the target (page << 12 | imm12, 33 bits) through the data map, re-encoded
                # relative to the page the ADRP had in the old release
                m33, half = (1 << 33) - 1, arch.modulus >> 1
                for j in data_refs:
                    adrp, add = unpack_from(region, j)[0], unpack_from(region, j + 4)[0]
                    site = (r.vaddr + j) & m33
                    s = (site0 + (j >> 2)) & mask
                    shift = fsh[br(fs, s)] & mask
                    old_site = (site + 4 * (shift - (arch.modulus if shift >= half else 0))) & m33
                    pages = ((adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29) & 3
                    if encode:
                        t = ((((site >> 12) + pages) & 0x1FFFFF) << 12) | (add >> 10) & 0xFFF
                        t = (t + dsh[br(ds, t)]) & m33
                        pages = ((t >> 12) - (old_site >> 12)) & 0x1FFFFF
                    else:
                        t = ((((old_site >> 12) + pages) & 0x1FFFFF) << 12) | (add >> 10) & 0xFFF
                        t = (t + dish[br(dis, t)]) & m33
                        pages = ((t >> 12) - (site >> 12)) & 0x1FFFFF
                    pack_into(buf, at + j, adrp & 0x9F00001F | (pages & 3) << 29 | (pages >> 2) << 5)
                    pack_into(buf, at + j + 4, add & 0xFFC003FF | (t & 0xFFF) << 10)
    return count


# ------------------------------------------------------------------------------------- descriptor
#
# What a patch carries so that applying needs no executable parsing: the new release's code
# regions and the address map's intervals, varint-coded (gap from the previous interval's end,
# zigzag change of shift, length).

_DESC_MAGIC = b"PXM2"
_DESC_HEAD = struct.Struct("<4sBBB")  # magic, format, arch, region count
_DESC_REGION = struct.Struct("<QQQ")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pack_intervals(amap: AddressMap) -> list[bytes]:
    parts = [_varint(len(amap.intervals))]
    prev_end = prev_shift = 0
    for n, o, length in amap.intervals:
        shift = o - n
        change = shift - prev_shift
        parts += [_varint(n - prev_end), _varint(change * 2 if change >= 0 else -change * 2 - 1), _varint(length)]
        prev_end, prev_shift = n + length, shift
    return parts


def pack_descriptor(layout: ExeLayout, maps: ExeMaps) -> bytes:
    parts = [_DESC_HEAD.pack(_DESC_MAGIC, layout.format, layout.arch, len(layout.regions))]
    parts += [_DESC_REGION.pack(r.offset, r.size, r.vaddr) for r in layout.regions]
    parts += _pack_intervals(maps.code) + _pack_intervals(maps.data)
    return b"".join(parts)


def unpack_descriptor(desc: bytes, new_size: int) -> tuple[ExeLayout, ExeMaps]:
    """Parse and check a descriptor against the new file's size (TransformError if it is wrong)."""
    if len(desc) < _DESC_HEAD.size:
        raise TransformError("transform descriptor is truncated")
    magic, fmt, arch, n_regions = _DESC_HEAD.unpack_from(desc)
    if magic != _DESC_MAGIC:
        raise TransformError("unknown transform descriptor")
    if fmt not in FORMAT_NAMES or arch not in ARCH_NAMES:
        raise TransformError(f"unknown executable format {fmt} or architecture {arch}")
    if not 0 < n_regions <= MAX_REGIONS:
        raise TransformError("bad code region count in the transform descriptor")
    pos = _DESC_HEAD.size
    if len(desc) < pos + _DESC_REGION.size * n_regions:
        raise TransformError("transform descriptor is truncated")
    regions, end = [], 0
    for _ in range(n_regions):
        r = Region(*_DESC_REGION.unpack_from(desc, pos))
        pos += _DESC_REGION.size
        if r.offset < end or r.size > new_size or r.offset > new_size - r.size:
            raise TransformError("transform descriptor's code regions do not fit the file")
        regions.append(r)
        end = r.offset + r.size

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            if pos >= len(desc) or shift > 63:
                raise TransformError("transform descriptor is truncated or malformed")
            byte = desc[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def intervals(m: int) -> AddressMap:
        count = varint()
        if count > _MAX_INTERVALS or count > len(desc):
            raise TransformError("too many address map intervals")
        out = []
        prev_end = prev_shift = 0
        for _ in range(count):
            n = prev_end + varint()
            z = varint()
            shift = prev_shift + (z >> 1 if not z & 1 else -(z >> 1) - 1)
            length = varint()
            if not (length > 0 and n + length <= m and n + shift >= 0 and n + shift + length <= m):
                raise TransformError("address map interval outside the address space")
            out.append((n, n + shift, length))
            prev_end, prev_shift = n + length, shift
        return AddressMap(m, tuple(out))

    code = intervals(_ARCHES[arch].modulus)
    data = intervals(1 << DATA_BITS[arch])
    if pos != len(desc):
        raise TransformError("transform descriptor has trailing bytes")
    return ExeLayout(fmt, arch, tuple(regions)), ExeMaps(code, data)


# ------------------------------------------------------------------------------------- transform, vectorised
#
# The same transform with numpy, for large code: the per-reference Python loop costs about a
# microsecond a reference (0.2 s on esbuild's 145,000), numpy's whole-array arithmetic a few
# nanoseconds, but importing numpy costs about 60 ms of CPU, so small code keeps the loop
# (_NUMPY_MIN_CODE). Both engines give the same bytes (tests/test_delta_exe.py compares them).

_NUMPY_MIN_CODE = 3 << 20  # bytes of code from which the vectorised engine is used (3 MiB)
_NP_CHUNK = 1 << 20  # bytes of code per step: bounds the candidate arrays whatever the code holds
_NP_ROUNDS = 64  # rounds of the parallel x86 scan before a chunk falls back to the sequential one


def _numpy() -> Any:
    """numpy, imported on first use (heavy: only for large code), with OpenBLAS's thread pool
    limited to one thread while it loads: ppm uses no BLAS, and starting a pool of threads cost
    about 0.05 s of CPU, as much as the rest of numpy's import. The variable is restored at once,
    so nothing ppm starts later inherits it."""
    if "numpy" in sys.modules:
        return sys.modules["numpy"]
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    return numpy


def _np_map(np: Any, amap: AddressMap) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(starts, shifts) of the forward and inverse maps as int64 arrays."""
    fwd, inv = amap._fwd, amap._inv
    return (
        (np.asarray(fwd[0], dtype=np.int64), np.asarray(fwd[1], dtype=np.int64)),
        (np.asarray(inv[0], dtype=np.int64), np.asarray(inv[1], dtype=np.int64)),
    )


def _np_shift(np: Any, table: tuple[Any, Any], x: Any) -> Any:
    starts, shifts = table
    return shifts[np.searchsorted(starts, x, side="right")]


def _np_le32(src: Any, q: Any) -> Any:
    """The little-endian 32-bit words at byte offsets ``q`` of the uint8 array ``src``, as int64."""
    out = src[q].astype("int64")
    for k in (1, 2, 3):
        out |= src[q + k].astype("int64") << (8 * k)
    return out


def _np_put32(dst: Any, q: Any, v: Any) -> None:
    for k in range(4):
        dst[q + k] = (v >> (8 * k)) & 0xFF


def _x86_taken_sequential(cand: list[int], is_call: list[bool], window: bytes, base: int, last: int) -> list[bool]:
    """The scan of :func:`_x86_chunks` over known candidates: which are taken (the fallback).
    ``window[p - base]`` is the byte at region offset p, for p from 3 bytes before the first candidate."""
    taken = []
    for j, call in zip(cand, is_call, strict=True):
        ok = j >= last
        if ok and call:
            lo = max(j - 3, last)
            ok = not any(window[p - base] in (0xE8, 0xE9) for p in range(lo, j)) and not (
                j > last and 0x40 <= window[j - 1 - base] <= 0x4F
            )
        elif ok:
            ok = not (j > last and window[j - 1 - base] in (0xE8, 0xE9))
        taken.append(ok)
        if ok:
            last = j + (5 if call else 7)
    return taken


def _x86_scan_np(np: Any, src: Any, chunk: int) -> Iterator[tuple[Any, Any]]:
    """:func:`_x86_chunks` with numpy: the taken (calls, rip references) of each chunk of the uint8 array ``src``."""
    size = len(src)
    last = 0
    for c0 in range(0, size, chunk):
        c1 = min(size, c0 + chunk)
        # a window from 3 bytes before the chunk (zeros before the region: neither opcode nor REX)
        # to 7 after; position p of the region is w[p - c0 + 3]
        w = np.concatenate((np.zeros(3 - (c0 - max(0, c0 - 3)), dtype=np.uint8), src[max(0, c0 - 3) : c1 + 7]))
        op = (w & 0xFE) == 0xE8
        rex = (w & 0xF0) == 0x40
        found = []
        nc = min(c1, size - 4) - c0
        if nc > 0:
            test = w[7 : 7 + nc]
            found.append(np.flatnonzero(op[3 : 3 + nc] & ((test == 0) | (test == 0xFF))))
        nr = min(c1, size - 6) - c0
        if nr > 0:
            r_i = np.flatnonzero(rex[3 : 3 + nr] & ((w[5 : 5 + nr] & 0xC7) == 0x05))
            found.append(r_i[np.frombuffer(_X86_RIP_OPS, dtype=np.bool_)[w[r_i + 4]]])
        i = np.sort(np.concatenate(found)) + 3 if found else np.zeros(0, dtype=np.intp)  # window indices
        if not len(i):
            continue
        j = i - 3 + c0  # region offsets
        call = op[i]
        op1, op2, op3 = op[i - 1], op[i - 2], op[i - 3]
        rex1 = rex[i - 1]
        end = j + np.where(call, 5, 7)

        def decide(e: Any, j: Any = j, call: Any = call, op1: Any = op1, op2: Any = op2, op3: Any = op3, rex1: Any = rex1) -> Any:
            after = j > e
            bad_call = (op1 & after) | (op2 & (j - 2 >= e)) | (op3 & (j - 3 >= e)) | (rex1 & after)
            return (j >= e) & np.where(call, ~bad_call, ~(op1 & after))

        # A candidate's fate depends on the end of the last taken one before it (the scan's
        # state, at most 7 bytes back matter). Each round decides every candidate from the
        # previous round's decisions; round k is right for every chain of k dependent
        # candidates, and a round that changes nothing is the sequential scan's answer.
        taken = np.zeros(len(j), dtype=np.bool_)
        for _ in range(_NP_ROUNDS):
            ends = np.maximum.accumulate(np.where(taken, end, last))
            prev = np.empty_like(ends)
            prev[0], prev[1:] = last, ends[:-1]
            now = decide(prev)
            if np.array_equal(now, taken):
                break
            taken = now
        else:  # long chains of overlapping candidates (not code): the scan itself, one by one
            seq = _x86_taken_sequential(j.tolist(), call.tolist(), w.tobytes(), c0 - 3, last)
            taken = np.asarray(seq, dtype=np.bool_)
        tj, tcall = j[taken], call[taken]
        if len(tj):
            last = int(tj[-1]) + (5 if tcall[-1] else 7)
        yield tj[tcall], tj[~tcall]


def _x86_np(np: Any, buf: bytearray, r: Region, maps: tuple[Any, Any, Any, Any], encode: bool, chunk: int) -> int:
    code_f, code_i, data_f, data_i = maps
    src = np.frombuffer(bytes(memoryview(buf)[r.offset : r.offset + r.size]), dtype=np.uint8)
    dst = np.frombuffer(buf, dtype=np.uint8, count=r.size, offset=r.offset)
    mask, m32 = (1 << 25) - 1, 0xFFFFFFFF
    modulus, half = 1 << 25, 1 << 24
    count = 0
    for calls, rips in _x86_scan_np(np, src, chunk):
        count += len(calls) + len(rips)
        if len(calls):
            d = _np_le32(src, calls + 1) & 0x1FFFFFF
            s = ((r.vaddr + 5) & mask) + calls & mask
            v = _np_branch(np, s, d, code_f, code_i, mask, encode)
            _np_put32(dst, calls + 1, np.where(v & 0x1000000, v | 0xFE000000, v))
        if len(rips):
            d = _np_le32(src, rips + 3)
            site = ((r.vaddr + 7) & m32) + rips & m32
            shift = _np_shift(np, code_f, site & mask) & mask
            old_site = (site + shift - np.where(shift >= half, modulus, 0)) & m32
            if encode:
                t = (site + d) & m32
                v = (t + _np_shift(np, data_f, t) - old_site) & m32
            else:
                t = (old_site + d) & m32
                v = (t + _np_shift(np, data_i, t) - site) & m32
            _np_put32(dst, rips + 3, v)
    del dst
    return count


def _np_branch(np: Any, s: Any, d: Any, code_f: Any, code_i: Any, mask: int, encode: bool) -> Any:
    """Branch displacements `d` at sites `s` (in code units, modulo mask+1) rewritten through
    the code map: as the old release would have them (encode), or back (decode)."""
    hs = s + _np_shift(np, code_f, s)
    if encode:
        t = (s + d) & mask
        return (t + _np_shift(np, code_f, t) - hs) & mask
    t = (hs + d) & mask
    return (t + _np_shift(np, code_i, t) - s) & mask


def _arm_np(np: Any, buf: bytearray, r: Region, maps: tuple[Any, Any, Any, Any], encode: bool, chunk: int) -> int:
    code_f, code_i, data_f, data_i = maps
    words = r.size // 4
    if not words:
        return 0
    src = np.frombuffer(bytes(memoryview(buf)[r.offset : r.offset + 4 * words]), dtype="<u4")
    dst = np.frombuffer(buf, dtype="<u4", count=words, offset=r.offset)
    mask, m33 = (1 << 26) - 1, (1 << 33) - 1
    modulus, half = 1 << 26, 1 << 25
    site0 = (r.vaddr >> 2) & mask
    count = 0
    step = max(1, chunk // 4)
    for w0 in range(0, words, step):
        w1 = min(words, w0 + step)
        wc = src[w0 : w1 + 1].astype(np.int64)  # one word more: the ADD after an ADRP
        n, m = w1 - w0, min(w1 - w0, len(wc) - 1)
        top = wc >> 24
        br = np.flatnonzero((top[:n] & 0x7C) == 0x14)
        adds = wc[1 : m + 1]
        pairs = np.flatnonzero(
            ((top[:m] & 0x9F) == 0x90) & (top[1 : m + 1] == 0x91) & ((adds & 0x00C00000) == 0) & (((adds >> 5) & 0x1F) == (wc[:m] & 0x1F))
        )
        count += len(br) + len(pairs)
        if len(br):
            word = wc[br]
            br = br + w0
            d = word & 0x3FFFFFF
            s = (site0 + br) & mask
            v = _np_branch(np, s, d, code_f, code_i, mask, encode)
            dst[br] = (word & 0xFC000000) | v
        if len(pairs):
            adrp, add = wc[pairs], wc[pairs + 1]
            pairs = pairs + w0
            site = ((r.vaddr & m33) + 4 * pairs) & m33
            shift = _np_shift(np, code_f, (site0 + pairs) & mask) & mask
            old_site = (site + 4 * (shift - np.where(shift >= half, modulus, 0))) & m33
            pages = ((adrp >> 5) & 0x7FFFF) << 2 | (adrp >> 29) & 3
            if encode:
                t = ((((site >> 12) + pages) & 0x1FFFFF) << 12) | (add >> 10) & 0xFFF
                t = (t + _np_shift(np, data_f, t)) & m33
                pages = ((t >> 12) - (old_site >> 12)) & 0x1FFFFF
            else:
                t = ((((old_site >> 12) + pages) & 0x1FFFFF) << 12) | (add >> 10) & 0xFFF
                t = (t + _np_shift(np, data_i, t)) & m33
                pages = ((t >> 12) - (site >> 12)) & 0x1FFFFF
            dst[pairs] = (adrp & 0x9F00001F) | (pages & 3) << 29 | (pages >> 2) << 5
            dst[pairs + 1] = (add & 0xFFC003FF) | (t & 0xFFF) << 10
    del dst
    return count


def _transform_np(buf: bytearray, layout: ExeLayout, maps: ExeMaps, *, encode: bool, chunk: int = _NP_CHUNK) -> int:
    np = _numpy()

    tables = (*_np_map(np, maps.code), *_np_map(np, maps.data))
    count = 0
    for r in layout.regions:
        if r.offset + r.size > len(buf):
            raise TransformError("code region outside the file")
        if layout.arch == ARCH_X86_64:
            count += _x86_np(np, buf, r, tables, encode, chunk)
        else:
            if r.vaddr % 4:
                raise TransformError("arm64 code region at an unaligned address")
            count += _arm_np(np, buf, r, tables, encode, chunk)
    return count
