"""HDiffPatch's uncompressed stream: matching two files into it, whole or in windows, and applying it.

ppm's ``hdiff`` patches carry this stream (HDIFF13, every section stored uncompressed) compressed as
one zstd frame (:mod:`ppm.delta` writes the frame, the header and the round trip). The matcher is
the hdiffpatch package (heavy: imported only to make a patch); applying is ppm._hpatch
(ppm/_hpatch.c, built by setup.py), or the hdiffpatch package where ppm was installed without it.

HDiffPatch's matcher holds a suffix array of its old input (4 bytes a byte; 8 past 2 GiB), a match
cache and its own copies beside both inputs: over the whole old file that alone is more than
twice (old + new). Large files are therefore matched in windows: the new file in pieces, each
against a window of the old file around the same relative place, a few times wider than the
piece (releases keep their sections in order, so what a piece matches is near). Each window's
stream is an ordinary HDiffPatch stream; they are merged into one (the covers' positions shifted
to the whole files, the run-length and literal sections concatenated: each window's run-length
codes end on a token boundary), so the patch format is unchanged: any ppm that applies hdiff
patches applies these, and applying costs what it did.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (applying imports this module)
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Source(Protocol):
        """A file matched a window at a time: its size, and ``size`` bytes from ``start``."""

        def __len__(self) -> int: ...
        def window(self, start: int, size: int) -> bytes: ...

try:  # the C decoder (setup.py builds it; optional, see apply)
    from ppm import _hpatch
except ImportError:
    _hpatch = None  # type: ignore[assignment]

MAGIC = b"HDIFF13&\0"  # HDiffPatch's compressed-diff format, sections stored uncompressed


class HdiffError(ValueError):
    """HDiffPatch failed to diff, wrote a stream ppm does not expect, or a stream is corrupt."""


def diff(old: bytes | Source, new: bytes | Source) -> list[bytes | bytearray]:
    """HDiffPatch's uncompressed stream of ``old`` -> ``new``, in sections to join: matched whole
    (both must be bytes then), or in windows by :func:`windows` (either may be read a window at a
    time)."""
    import hdiffpatch  # hdiffpatch: heavy, only to make a patch

    if windows(len(old), len(new)) is not None:
        return _diff_windows(hdiffpatch, old, new)
    assert isinstance(old, bytes) and isinstance(new, bytes)
    try:
        # big_cache_match: a bloom filter over old (under 1 byte per byte) that skips hopeless
        # suffix-array searches; same output, faster.
        return [hdiffpatch.diff(old, new, "none", validate=False, big_cache_match=True)]
    except hdiffpatch.HDiffPatchError as e:
        raise HdiffError(f"HDiffPatch could not diff the files: {e}") from e


def load_decoder() -> None:
    """Import what :func:`apply` will decode with, ahead of it: nothing with ppm._hpatch; the hdiffpatch
    package (heavy) without it, which a caller may overlap with other work."""
    if _hpatch is None:
        import hdiffpatch  # noqa: F401


def apply(old: bytes, stream: bytes, new_size: int) -> bytearray:
    """The stream applied to ``old``: by ppm._hpatch, or the hdiffpatch package when ppm was installed
    without its C extension (the reference ppm._hpatch is tested against). A malformed stream, or one
    whose output is not ``new_size`` bytes, raises HdiffError."""
    if _hpatch is not None:
        try:
            return _hpatch.apply(old, stream, new_size)
        except ValueError as e:
            raise HdiffError(str(e)) from e
    import hdiffpatch  # hdiffpatch: heavy, only without ppm._hpatch

    try:
        out = bytearray(hdiffpatch.apply(old, stream))
    except hdiffpatch.HDiffPatchError as e:
        raise HdiffError(str(e)) from e
    if len(out) != new_size:
        raise HdiffError(f"the stream gives {len(out)} bytes, the header says {new_size}")
    return out


_WINDOW_SHARE = 0.15  # an old window spans this share of (old + new) ...
_WINDOW_SPREAD: float = 3  # ... and this many times the piece of the new file it is matched against
_WINDOW_FROM = 4 << 20  # files from this size are matched in windows of that shape ...
# ... and from this size up to _WINDOW_FROM in narrower ones. Their 2 (old + new) is a few MB, of which
# the whole-file matcher alone takes more (a 4-byte suffix array entry a byte of old). Measured on
# rollup's 2.0-2.7 MB native modules (arm64 4.68.7 and 4.68.0 -> 4.68.8, win64 4.68.7 -> 4.68.8): the
# matching phase's peak over the interpreter / (old + new), its CPU against matching whole, and the
# patch against matching whole (tests/benchmarks/results/patch.md, "Fourth round"):
#   whole file                     3.9-4.1     0.10-0.17 s
#   0.15 x (old + new), spread 3   1.46        +0.13 s         +0.9%   (arm64 near only)
#   0.15, spread 1.5               1.53-1.61   +0.04-0.07 s    +0.1% to +6.2%
#   0.1, spread 1.5                1.18-1.34   +0.03-0.04 s    +0.2% to +2.5%
# A narrower window finds fewer far matches; the suffix arrays built add up to spread x new.
_WINDOW_SMALL = (1 << 20, 0.1, 1.5)  # (from, share, spread)


def windows(old_size: int, new_size: int) -> tuple[int, int] | None:
    """(old window width, new piece size) for windowed matching, or None to match the files whole."""
    small_from, share, spread = _WINDOW_SMALL
    if old_size >= _WINDOW_FROM:
        share, spread = _WINDOW_SHARE, _WINDOW_SPREAD
    elif old_size < small_from:
        return None
    width = int((old_size + new_size) * share)
    if old_size <= width or new_size == 0:
        return None
    return width, max(1, int(width / spread))


def _diff_windows(hdiffpatch: Any, old: bytes | Source, new: bytes | Source) -> list[bytes | bytearray]:
    """HDiffPatch's uncompressed stream of ``old`` -> ``new``, matched in windows (see above), as its
    five sections (header, covers, run-length controls, run-length codes, literals) to join."""
    spans = windows(len(old), len(new))
    assert spans is not None
    width, piece = spans
    ratio = len(old) / len(new)
    merged = Merge(len(old))
    for start in range(0, len(new), piece):
        end = min(len(new), start + piece)
        lo = max(0, min(len(old) - width, int((start + end) * ratio / 2 - width / 2)))
        try:
            # no big_cache_match: its cache would cost as much as a window's suffix array saves
            window = old[lo : lo + width] if isinstance(old, bytes) else old.window(lo, width)
            piece_b = new[start:end] if isinstance(new, bytes) else new.window(start, end - start)
            stream = hdiffpatch.diff(window, piece_b, "none", validate=False)
            del window, piece_b
        except hdiffpatch.HDiffPatchError as e:
            raise HdiffError(f"HDiffPatch could not diff the files: {e}") from e
        merged.add(lo, stream)
    return merged.sections()


def _read_uint(buf: bytes | memoryview, pos: int, tag_bits: int = 0) -> tuple[int, int, int]:
    """HDiffPatch's variable-length unsigned integer at ``pos``: (value, tag, next position). The
    first byte holds ``tag_bits`` of tag, a continuation bit and the value's top bits; the next
    bytes 7 bits each, most significant first, bit 7 set on all but the last."""
    b = buf[pos]
    pos += 1
    tag = b >> (8 - tag_bits) if tag_bits else 0
    more = b & (1 << (7 - tag_bits))
    value = b & ((1 << (7 - tag_bits)) - 1)
    while more:
        b = buf[pos]
        pos += 1
        value = value << 7 | (b & 0x7F)
        more = b & 0x80
    return value, tag, pos


def _pack_uint(value: int, tag: int = 0, tag_bits: int = 0) -> bytes:
    """The inverse of :func:`_read_uint`."""
    low: list[int] = []
    while value > (1 << (7 - tag_bits)) - 1:
        low.append(value & 0x7F)
        value >>= 7
    first = value | (tag << (8 - tag_bits) if tag_bits else 0) | ((1 << (7 - tag_bits)) if low else 0)
    return bytes([first, *(b | 0x80 for b in reversed(low[1:])), *low[:1]])


class Merge:
    """Windows' HDiffPatch streams (each of a piece of the new file against a window of the old one,
    in the new file's order) merged into one stream over the whole files."""

    def __init__(self, old_size: int) -> None:
        self.old_size = old_size
        self.new_size = self.count = 0
        self.covers, self.ctrl, self.code, self.data = bytearray(), bytearray(), bytearray(), bytearray()
        self.old_end = self.new_end = 0  # where the last cover ended, in the whole files

    def add(self, old_offset: int, stream: bytes) -> None:
        if not stream.startswith(MAGIC):
            raise HdiffError("HDiffPatch wrote an unexpected stream (not an uncompressed HDIFF13 diff)")
        pos, fields = len(MAGIC), []
        for _ in range(11):
            value, _, pos = _read_uint(stream, pos)
            fields.append(value)
        new_size, _, count, n_covers, z1, n_ctrl, z2, n_code, z3, n_data, z4 = fields
        if (z1, z2, z3, z4) != (0, 0, 0, 0) or pos + n_covers + n_ctrl + n_code + n_data != len(stream):
            raise HdiffError("HDiffPatch wrote an unexpected stream (compressed or mis-sized sections)")
        view = memoryview(stream)
        covers = view[pos : pos + n_covers]
        old_end = new_end = 0  # within the window and the piece
        at = 0
        for _ in range(count):
            step, back, at = _read_uint(covers, at, 1)
            gap, _, at = _read_uint(covers, at)
            length, _, at = _read_uint(covers, at)
            old_pos, new_pos = old_end - step if back else old_end + step, new_end + gap
            old_abs, new_abs = old_offset + old_pos, self.new_size + new_pos
            move = old_abs - self.old_end
            self.covers += _pack_uint(abs(move), move < 0, 1)
            self.covers += _pack_uint(new_abs - self.new_end)
            self.covers += _pack_uint(length)
            old_end, new_end = old_pos + length, new_pos + length
            self.old_end, self.new_end = old_abs + length, new_abs + length
        if at != n_covers:
            raise HdiffError("HDiffPatch wrote an unexpected stream (cover list of the wrong size)")
        pos += n_covers
        for section, n in ((self.ctrl, n_ctrl), (self.code, n_code), (self.data, n_data)):
            section += view[pos : pos + n]
            pos += n
        self.new_size += new_size
        self.count += count

    def sections(self) -> list[bytes | bytearray]:
        sizes = (self.new_size, self.old_size, self.count, len(self.covers), 0, len(self.ctrl), 0, len(self.code), 0,
                 len(self.data), 0)
        return [MAGIC + b"".join(map(_pack_uint, sizes)), self.covers, self.ctrl, self.code, self.data]
