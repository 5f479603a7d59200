"""Binary patches between two releases of an executable: make, inspect, apply.

A patch file is a fixed 128-byte header followed by the payload:

    offset size  field
    0      8     magic b"PPMPATCH"
    8      1     format version: 1, or 2 when the patch uses the executable transform
    9      1     method: 1 = zstd patch mode, 2 = HDiffPatch transform + zstd
    10     1     zstd window log of the frame
    11     1     transform: 0 = none, 1 = executable references (format 2 only)
    12     1     executable format (1 ELF, 2 PE, 3 Mach-O), 13  1  architecture (1 x86-64, 2 arm64)
    14     2     reserved (zero)
    16     8     old size            24  32  old sha256
    56     8     new size            64  32  new sha256
    96     8     payload size (bytes after the header)
    104    8     raw size (what the frame decompresses to)
    112    8     decoder memory need, bytes
    120    4     transform descriptor size (format 2; zero in format 1)
    124    4     crc32 of bytes 0..124

The payload is the transform descriptor (format 2 only: the new release's code regions and the
code and data address maps, see ppm/exe_transform.py, followed by its crc32) and one zstd frame.

Format 2 exists for the executable transform: a client that only knows format 1 refuses such a
patch by its version byte ("patch format version 2, this ppm reads version 1", hint: update ppm
or download the full file; ppm.update then falls back to the compressed or full bundle), before
reading anything else. Patches without the transform are still written as format 1, so older
clients keep applying them; this ppm reads both.

Executables (ELF, PE and Mach-O; x86-64 and arm64, found by :func:`ppm.exe_transform.detect`):
with ``hdiff``, the new file's references are first rewritten as the old release had them:
call/jmp rel32 and arm64 B/BL through a code address map from the new release to the old one,
x86-64 rip-relative operands and arm64 ADRP + ADD pairs through a data address map
(:func:`ppm.exe_transform.build_map`), so code that only moved, or only reaches data that moved,
reads exactly as in the old file. The patch turns the old file into that transformed new file;
applying undoes the transform (the descriptor says where and how) before the new file's sha256 is
checked and the file renamed into place. The old file is used as it is, so applying does not
transform it. When both files hold the same code at the same addresses the transform would be
the identity, and is skipped.

Methods, chosen by measurement (tests/benchmarks/results/patch.md):
- ``zstd``: zstd's own patch mode, like ``zstd --patch-from``: the old file is a raw-content
  *prefix* (backports.zstd's ``ZstdDict(old, is_raw=True).as_prefix``, not a dictionary), the
  window covers old + new, long-distance matching on, single-threaded.
- ``hdiff``: HDiffPatch's diff (suffix-array matching like bsdiff, with approximate matches and a
  better cover selection) written uncompressed, then that stream compressed as one zstd frame. On
  real releases it is smaller than bsdiff4 and than ``zstd --patch-from -19`` on every pair we
  measured, and creates faster than bsdiff4 with a fraction of its memory. Files from 1 MiB on are
  matched in windows merged into one ordinary HDiffPatch stream (:mod:`ppm.hdiff`): the matcher's
  suffix array then covers a window of the old file, not all of it. It is the default;
  ``zstd`` is the fallback when the matcher's memory would exceed the budget, and ``best`` makes
  every variant (with and without the transform, and zstd) and keeps the smallest.
  Applying decodes the stream with ppm._hpatch (ppm/_hpatch.c, built by setup.py), or with the
  hdiffpatch package when ppm was installed without its C extensions; only making a patch needs
  hdiffpatch then.

The header says what decoding costs before anything is decoded (:attr:`PatchInfo.memory_need`),
so an updater can refuse a patch it cannot afford and fall back to the full file; the figure is
meant to be recorded in signed metadata. Applying checks the old file's hash before decoding and
the result's hash after, and replaces ``out`` atomically.
"""

from __future__ import annotations

# Imports are what applying a patch needs, nothing more: `python -c "...apply_patch(...)"` is
# measured against bspatch (tests/benchmarks/bench_patch.py), and its imports were most of the
# time. Hence no dataclasses or typing (PatchInfo is a plain class), no concurrent.futures (and the
# logging it imports), threading or tempfile (and shutil, random); hdiffpatch and numpy only when needed.
import _thread
import hashlib
import os
import struct
import sys
import zlib

from ppm import exe_transform as xt
from ppm import hdiff
from ppm.core.errors import PpmError
from ppm.core.record import Frozen
from ppm.exe_transform import ARCH_NAMES, FORMAT_NAMES, ExeLayout, ExeMaps

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers read it as True
if TYPE_CHECKING:  # annotations only: paths are taken as str or os.PathLike and handled with os.path
    from collections.abc import Callable
    from typing import BinaryIO

    from _typeshed import StrPath


MAGIC = b"PPMPATCH"
FORMAT_VERSION = 2  # the newest format this ppm writes (format 1 when no transform is used)
READ_VERSIONS = (1, 2)
HEADER_SIZE = 128
_HEADER = struct.Struct("<8sBBBBBB2sQ32sQ32sQQQI")  # up to the crc32
assert _HEADER.size == 124
TRANSFORM_NONE = 0
TRANSFORM_EXE = 1

METHOD_ZSTD = 1
METHOD_HDIFF = 2
METHOD_NAMES = {METHOD_ZSTD: "zstd", METHOD_HDIFF: "hdiff"}
METHODS = ("auto", "hdiff", "zstd", "best")

DEFAULT_LEVEL = 19
# Headroom over the buffers we account for: the interpreter and the decoder libraries, the zstd
# decoder context, allocator slack. With it the figures bound the whole process's peak RSS;
# tests/benchmarks/bench_patch.py checks them against the measured peaks on every pair it runs.
_DECODER_OVERHEAD = 48 << 20
# Undoing the transform, beyond the buffers: the address maps parsed from the descriptor (each
# interval, at least 3 bytes of it, becomes a few Python integers or int64 table entries) and, for
# an applier without ppm._xform, numpy and one chunk's arrays (measured: numpy's import 11 MB, a
# chunk's arrays a few MB).
_DESCRIPTOR_FACTOR = 100
_TRANSFORM_OVERHEAD = 32 << 20
# Making a patch. Matched whole (files under 1 MiB, see ppm.hdiff.windows): HDiffPatch's matcher holds a 32-bit
# suffix array of old (64-bit past 2 GiB) and its match cache beside both files, and the transform's
# planning in pure Python its arrays and dicts: measured 4.8-5.2 x (old + new) over the interpreter
# on rollup's 2 MB pairs when they were matched whole. Matched in windows: the planning's arrays or
# the round trip (old file, stream, new file) are the peak, measured 1.5-2.0 x (old + new) over the
# interpreter with the modules making imports (rollup, esbuild, uv: tests/benchmarks/results/patch.md).
_CREATE_WHOLE_FACTOR = 8
_CREATE_WINDOWED_FACTOR = 2.5
_CREATE_OVERHEAD = 64 << 20

if TYPE_CHECKING:
    Progress = Callable[[str], None]


class PatchError(PpmError):
    """A patch cannot be made, read or applied: corrupt, truncated, for another file, or too big."""


class PatchMemoryError(PatchError):
    """Decoding (or making) a patch would need more memory than allowed."""


class PatchInfo(Frozen):
    """A patch's header (:func:`patch_info`): immutable, compared by value, ``to_dict`` for JSON.

    A :class:`~ppm.core.record.Frozen` rather than a dataclass: the apply path imports neither
    dataclasses nor typing.
    """

    __slots__ = _fields = (
        "method", "format_version", "old_size", "old_sha256", "new_size", "new_sha256", "patch_size",
        "payload_size", "raw_size", "window_log", "memory_need", "transform", "descriptor_size",
    )
    method: str
    format_version: int
    old_size: int
    old_sha256: str
    new_size: int
    new_sha256: str
    patch_size: int
    payload_size: int
    raw_size: int
    window_log: int
    memory_need: int
    transform: str  # "none", or the executable the references were transformed for, e.g. "ELF arm64"
    descriptor_size: int

    def __init__(
        self, method: str, format_version: int, old_size: int, old_sha256: str, new_size: int, new_sha256: str,
        patch_size: int, payload_size: int, raw_size: int, window_log: int, memory_need: int,
        transform: str = "none", descriptor_size: int = 0,
    ) -> None:
        self._init(method, format_version, old_size, old_sha256, new_size, new_sha256, patch_size,
                   payload_size, raw_size, window_log, memory_need, transform, descriptor_size)

    def to_dict(self) -> dict[str, object]:
        return dict(zip(self._fields, self._values(), strict=True))


# ------------------------------------------------------------------------------------- header


def _transform_codes(name: str) -> tuple[int, int, int]:
    """(transform, executable format, architecture) header bytes for PatchInfo.transform."""
    if name == "none":
        return TRANSFORM_NONE, 0, 0
    fmt, _, arch = name.partition(" ")
    formats = {v: k for k, v in FORMAT_NAMES.items()}
    arches = {v: k for k, v in ARCH_NAMES.items()}
    return TRANSFORM_EXE, formats[fmt], arches[arch]


def _pack_header(info: PatchInfo) -> bytes:
    method = {v: k for k, v in METHOD_NAMES.items()}[info.method]
    transform, exe_format, arch = _transform_codes(info.transform)
    head = _HEADER.pack(
        MAGIC, info.format_version, method, info.window_log, transform, exe_format, arch, bytes(2),
        info.old_size, bytes.fromhex(info.old_sha256),
        info.new_size, bytes.fromhex(info.new_sha256),
        info.payload_size, info.raw_size, info.memory_need, info.descriptor_size,
    )
    return head + struct.pack("<I", zlib.crc32(head))


def _unpack_header(head: bytes, patch_size: int, where: object) -> PatchInfo:
    if len(head) < HEADER_SIZE:
        if not MAGIC.startswith(head[: len(MAGIC)]) or len(head) == 0:
            raise PatchError(f"{where}: not a ppm patch (no PPMPATCH header)")
        raise PatchError(f"{where}: truncated patch ({len(head)} bytes, the header alone is {HEADER_SIZE})")
    if head[:8] != MAGIC:
        raise PatchError(f"{where}: not a ppm patch (no PPMPATCH header)")
    (crc,) = struct.unpack_from("<I", head, 124)
    if zlib.crc32(head[:124]) != crc:
        raise PatchError(f"{where}: corrupt patch header (checksum mismatch)")
    (_, version, method, wlog, transform, exe_format, arch, reserved, old_size, old_sha, new_size, new_sha,
     payload, raw, need, desc_size) = _HEADER.unpack_from(head)
    if version not in READ_VERSIONS:
        raise PatchError(
            f"{where}: patch format version {version}, this ppm reads versions {', '.join(map(str, READ_VERSIONS))}",
            hint="update ppm, or download the full file instead",
        )
    if method not in METHOD_NAMES:
        raise PatchError(f"{where}: unknown patch method {method}", hint="update ppm, or download the full file instead")
    if not 10 <= wlog <= 31:
        raise PatchError(f"{where}: corrupt patch header (zstd window log {wlog})")
    name = "none"
    if version == 1:
        if (transform, exe_format, arch, reserved, desc_size) != (0, 0, 0, bytes(2), 0):
            raise PatchError(f"{where}: corrupt patch header (reserved bytes set in a format 1 patch)")
    else:
        if transform != TRANSFORM_EXE or exe_format not in FORMAT_NAMES or arch not in ARCH_NAMES or reserved != bytes(2):
            raise PatchError(f"{where}: unknown patch transform {transform}", hint="update ppm, or download the full file instead")
        if method != METHOD_HDIFF or not 0 < desc_size <= payload:
            raise PatchError(f"{where}: corrupt patch header (transform descriptor of {desc_size} bytes)")
        name = f"{FORMAT_NAMES[exe_format]} {ARCH_NAMES[arch]}"
    return PatchInfo(
        method=METHOD_NAMES[method], format_version=version,
        old_size=old_size, old_sha256=old_sha.hex(), new_size=new_size, new_sha256=new_sha.hex(),
        patch_size=patch_size, payload_size=payload, raw_size=raw, window_log=wlog, memory_need=need,
        transform=name, descriptor_size=desc_size,
    )


def patch_info(patch: StrPath) -> PatchInfo:
    """Read a patch's header: what it turns into what, by which method, and what decoding needs."""
    patch = os.fspath(patch)
    try:
        with open(patch, "rb") as f:
            head = f.read(HEADER_SIZE)
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise PatchError(f"cannot read patch {patch}: {e.strerror}") from e
    info = _unpack_header(head, size, patch)
    if size != HEADER_SIZE + info.payload_size:
        what = "truncated" if size < HEADER_SIZE + info.payload_size else "has trailing data"
        raise PatchError(f"{patch}: patch is {what} ({size} bytes, header says {HEADER_SIZE + info.payload_size})")
    return info


# ------------------------------------------------------------------------------------- memory


def decoder_memory_need(
    method: str, old_size: int, new_size: int, payload_size: int, raw_size: int, *, descriptor_size: int = 0
) -> int:
    """Peak memory, in bytes, that apply_patch needs for a patch with these sizes.

    Decoding holds the old file, the payload, the decompressed stream and the new file at once
    (HDiffPatch applies in memory), and a second copy of the new file where ppm._hpatch is not
    built (the hdiffpatch package returns bytes, copied into a mutable buffer); zstd patch mode
    decompresses with the old file as its prefix. Undoing the executable transform works on the new
    file in place (ppm._xform, or numpy a chunk at a time, or the Python loop) and adds the address
    maps built from the descriptor (``descriptor_size`` bytes) and, without ppm._xform, numpy.
    Measured on the bench's pairs (whole-process peak RSS, with and without ppm's C modules) and
    checked there: see _DECODER_OVERHEAD.
    """
    if method == "zstd":
        return old_size + payload_size + 2 * new_size + _DECODER_OVERHEAD
    need = old_size + payload_size + raw_size + 2 * new_size + _DECODER_OVERHEAD
    if descriptor_size:
        need += _DESCRIPTOR_FACTOR * descriptor_size + _TRANSFORM_OVERHEAD
    return need


def creation_memory_need(method: str, old_size: int, new_size: int) -> int:
    """Peak memory, in bytes, that make_patch needs with this method (a bound, not a measurement:
    see _CREATE_OVERHEAD; tests/benchmarks/bench_patch.py checks it on every pair it runs)."""
    if method == "zstd":
        # old and new, the zstd matcher's tables at level 19-22 with long-distance matching
        return 2 * (old_size + new_size) + (512 << 20)
    factor = _CREATE_WHOLE_FACTOR if hdiff.windows(old_size, new_size) is None else _CREATE_WINDOWED_FACTOR
    return int(factor * (old_size + new_size)) + _CREATE_OVERHEAD


def default_memory_budget() -> int:
    """Three quarters of the machine's physical memory."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4)
    except (ValueError, OSError, AttributeError):
        return 4 << 30


# ------------------------------------------------------------------------------------- zstd


def _window_log(size: int) -> int:
    """The smallest window that covers ``size`` bytes, within zstd's limits."""
    return max(10, min(31, (max(size, 1) - 1).bit_length()))


def _zstd():
    # zstd: heavy, only when a patch is made or applied
    if sys.version_info >= (3, 14):
        from compression import zstd  # type: ignore[import-not-found]
    else:
        from backports import zstd
    return zstd


def _prefix(zstd, old: bytes):
    """The old file as a raw-content prefix; zstd refuses one under 8 bytes, which is no loss."""
    return zstd.ZstdDict(old, is_raw=True).as_prefix if len(old) >= 8 else None


def _zstd_compress(data: bytes | bytearray, level: int, prefix: bytes | None = None) -> tuple[bytes, int]:
    zstd = _zstd()
    P = zstd.CompressionParameter
    wlog = _window_log(len(data) + (len(prefix) if prefix is not None else 0))
    opts = _options(P, level, wlog)
    zd = None
    if prefix is not None:
        opts[P.enable_long_distance_matching] = 1
        zd = _prefix(zstd, prefix)
    else:
        opts.update(_table_logs(P, wlog))
    return zstd.compress(data, options=opts, zstd_dict=zd), wlog


def _options(P, level: int, wlog: int) -> dict:
    """Every frame's parameters: ``level`` within zstd's bounds, a window of 2^wlog, a checksum."""
    lo, hi = P.compression_level.bounds()
    return {
        P.compression_level: max(lo, min(hi, level)),
        P.window_log: max(wlog, 10),
        P.checksum_flag: 1,
        P.nb_workers: 0,  # single-threaded: zstd's worker threads make patches much larger
    }


def _table_logs(P, wlog: int) -> dict:
    """Caps on the match finder's tables for a stream of HDiffPatch's that fits a window of 2^wlog.

    Level 19 sizes its chain and hash tables for its own window (2^24 and 2^22 entries of 4 bytes)
    and shrinks them only to about the stream's size: 64 + 16 MiB from windows of 8 MiB on, and still
    8-9 MiB on rollup's 0.2-0.45 MB streams, whose whole patch is a few MB. A chain a window long and
    a hash table a quarter of it change nothing there (the same bytes, measured on rollup's three
    pairs, at a third of the memory); on esbuild's and uv's streams chain log 21, hash log 19 make
    the frame within 0.1% of the uncapped one (+625 and +1,952 bytes against 22/20, 10 MB less).
    """
    return {P.chain_log: max(6, min(21, wlog - 1)), P.hash_log: max(6, min(19, wlog - 2))}


def _zstd_compress_chunks(chunks: list[bytes | bytearray], size: int, level: int) -> tuple[bytes, int]:
    """One zstd frame of the concatenated ``chunks`` (``size`` bytes in all), without joining them;
    the match finder's tables capped (:func:`_table_logs`)."""
    zstd = _zstd()
    P = zstd.CompressionParameter
    wlog = _window_log(size)
    c = zstd.ZstdCompressor(options={**_options(P, level, wlog), **_table_logs(P, wlog)})
    c.set_pledged_input_size(size)
    out = [c.compress(chunk) for chunk in chunks]
    out.append(c.flush())
    return b"".join(out), wlog


_D_WINDOW_LOG_MAX = 100  # ZSTD_d_windowLogMax, zstd.h's stable parameter number (DecompressionParameter.window_log_max)
_DECODER: list = []


def _zstd_decoder():
    """zstd's C module (ZstdDecompressor, ZstdDict, ZstdError), without the package around it.

    Applying a patch is measured against bspatch (tests/benchmarks/bench_patch.py), and on rollup's
    2 MB patches the whole process is 30 ms: backports.zstd's ``__init__`` (its parameter enums, and
    enum with functools and collections) cost 4 ms of it, for one decompressor. Its C module is loaded
    from the package's directory on its own; CPython 3.14's is the standard library's ``_zstd``. Both
    are the classes the package re-exports; where the module is not found (a pure-Python build of
    the backport) or lacks them, the package is imported as before. Whatever decodes, the output's
    length and then its sha256 are checked against the patch header.
    """
    if _DECODER:
        return _DECODER[0]
    mod = None
    try:
        if sys.version_info >= (3, 14):
            import _zstd as mod  # type: ignore[import-not-found, no-redef]
        else:
            mod = _load_backports_zstd_c()
    except (ImportError, OSError):
        mod = None
    if mod is None or not all(hasattr(mod, n) for n in ("ZstdDecompressor", "ZstdDict", "ZstdError")):
        mod = _zstd()
    _DECODER.append(mod)
    return mod


def _load_backports_zstd_c():
    """backports.zstd's C extension module, loaded from its file without running the package's __init__."""
    from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec

    import backports  # a namespace package: nothing runs

    name = "backports.zstd._zstd"
    for root in backports.__path__:
        for suffix in EXTENSION_SUFFIXES:
            path = os.path.join(root, "zstd", "_zstd" + suffix)
            if os.path.isfile(path):
                loader = ExtensionFileLoader(name, path)
                module = loader.create_module(ModuleSpec(name, loader, origin=path))
                loader.exec_module(module)
                return module
    return None


def _zstd_decompress(payload: bytes, window_log: int, size: int, prefix: bytes | None = None) -> bytes:
    """The one zstd frame ``payload``, which must decode to exactly ``size`` bytes (no more is decoded)."""
    z = _zstd_decoder()
    zd = _prefix(z, prefix) if prefix is not None else None
    try:
        d = z.ZstdDecompressor(zd, {_D_WINDOW_LOG_MAX: max(window_log, 27)})
        out = d.decompress(payload, size + 1)
    except z.ZstdError as e:
        raise PatchError(f"corrupt patch: {e}") from e
    if len(out) != size:
        raise PatchError(f"corrupt patch: decoded {len(out)} bytes, the header says {size}")
    if not d.eof or d.unused_data:
        raise PatchError("corrupt patch: the compressed payload does not end where its frame does")
    return out


def compressed_size(path: StrPath, *, level: int = DEFAULT_LEVEL) -> int:
    """Bytes of ``path`` as one zstd frame (window covering the file): what a patch must beat."""
    payload, _ = _zstd_compress(_read(path, "file"), level)
    return len(payload)


# ------------------------------------------------------------------------------------- files


def _read(path: StrPath, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PatchError(f"cannot read {what} {path}: {e.strerror}") from e


def _read_mutable(path: StrPath, what: str) -> bytearray:
    """The file as a bytearray, read straight into it (no bytes object beside it)."""
    try:
        with open(path, "rb") as f:
            buf = bytearray(os.fstat(f.fileno()).st_size)
            got = f.readinto(buf)
            if got != len(buf) or f.read(1):
                raise PatchError(f"{what} {path} changed while it was being read", hint="make the patch again")
            return buf
    except OSError as e:
        raise PatchError(f"cannot read {what} {path}: {e.strerror}") from e


def _write_atomic(out: StrPath, chunks: list[bytes] | list[bytes | bytearray], mode: int | None = None, check: Callable[[], None] | None = None) -> None:
    """Write beside ``out``, fsync, run ``check``, then rename over ``out``: it is untouched or complete."""
    fd, tmp = _temp_beside(out)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if check is not None:
            check()
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temp_beside(out: StrPath) -> tuple[int, str]:
    """A new temporary file in ``out``'s folder (made if missing), see :func:`_create_temp`."""
    parent, name = os.path.split(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    return _create_temp(parent, f".{name}.")


def _create_temp(directory: str, prefix: str) -> tuple[int, str]:
    """A new file ``directory/prefix<random>.part``, created exclusively with mode 0600, open for writing:
    tempfile.mkstemp's guarantees without importing tempfile (and shutil and random) to apply a patch."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}.part")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name for {prefix!r} in {directory}")


class _InThread:
    """``fn(*args)`` run in a thread, its result (or exception) collected by :meth:`result`.

    For hashlib, which releases the GIL: hashing overlaps reading and decoding. The low-level
    _thread (built into the interpreter) rather than concurrent.futures or threading, whose imports
    (concurrent.futures brings logging) cost more than applying a patch of a few MB.
    """

    def __init__(self, fn: Callable[..., str], *args: object) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()

        def run() -> None:
            try:
                self._value = fn(*args)
            except BaseException as e:
                self._error = e
            finally:
                self._done.release()

        _thread.start_new_thread(run, ())

    def wait(self) -> None:
        with self._done:
            pass

    def result(self) -> str:
        self.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


# ------------------------------------------------------------------------------------- make


class _Exe:
    """The executable transform for one pair: what the patch carries and how to rewrite the new file."""

    __slots__ = ("descriptor", "layout", "maps", "name")

    def __init__(self, name: str, descriptor: bytes, layout: ExeLayout, maps: ExeMaps) -> None:
        self.name = name
        self.descriptor = descriptor  # ppm.exe_transform's descriptor + its crc32
        self.layout = layout
        self.maps = maps

    def apply(self, buf: bytearray) -> bytes:
        """The new file (a mutable copy, rewritten in place) with its references rewritten, as bytes."""
        xt.transform(buf, self.layout, self.maps, encode=True)
        return bytes(buf)

    def spool(self, buf: bytearray, where: StrPath) -> _FileWindows:
        """:meth:`apply`, written to an unnamed temporary file in ``where`` for windowed matching."""
        import tempfile  # tempfile (with shutil and random): making a patch only, off the apply path

        xt.transform(buf, self.layout, self.maps, encode=True)
        f = None
        try:
            f = tempfile.TemporaryFile(dir=where)  # noqa: SIM115  (read from, then closed, by the caller)
            f.write(buf)
        except OSError as e:
            if f is not None:
                f.close()
            raise PatchError(f"cannot write a temporary file in {where}: {e.strerror}") from e
        return _FileWindows(f, len(buf), "transformed new file")


def _plan_transform(old: bytearray, new: bytearray, say: Progress, *, force: bool = False) -> _Exe | None:
    """The executable transform for this pair, or None when either file is not a matching executable
    (or, unless ``force``, when both hold the same code at the same addresses: the transform would
    change nothing and only add its descriptor). Planning may overwrite ``old`` and ``new``'s code
    (masked in place, see :func:`ppm.exe_transform.build_map`): the caller reads them again."""
    old_layout, new_layout = xt.detect(old), xt.detect(new)
    if old_layout is None or new_layout is None or old_layout.arch != new_layout.arch or old_layout.format != new_layout.format:
        return None
    same_places = [(r.size, r.vaddr) for r in old_layout.regions] == [(r.size, r.vaddr) for r in new_layout.regions]
    if not force and same_places and all(
        memoryview(old)[a.offset : a.offset + a.size] == memoryview(new)[b.offset : b.offset + b.size]
        for a, b in zip(old_layout.regions, new_layout.regions, strict=True)
    ):
        say(f"{new_layout.name}: the code is the same in both files; no transform")  # it would be the identity
        return None
    maps = xt.build_map(old, old_layout, new, new_layout, scratch=True)
    _release_freed_memory(len(new))  # the planning's arrays, before the copies the diff needs
    body = xt.pack_descriptor(new_layout, maps)
    say(f"{new_layout.name}: references rewritten through {len(maps.code.intervals)} matched runs of code"
        f" and {len(maps.data.intervals)} of data")
    return _Exe(new_layout.name, body + struct.pack("<I", zlib.crc32(body)), new_layout, maps)


_TRIM_FROM = 1 << 20  # (rollup's 2 MB files too: the zstd phase of 4.68.0 -> 4.68.8 38.8 -> 33.6 MiB with it,
# below the matcher's peak; the system CPU of mapping is a few ms there)
_MMAP_FROM = 1 << 20  # glibc's mmap threshold while a large patch is made (see _release_freed_memory)


def _release_freed_memory(size: int) -> None:
    """Hand the heap freed by the last phase back to the system (glibc's malloc_trim), for files of
    ``size`` bytes from _TRIM_FROM on: once large blocks have been freed, glibc raises its mmap
    threshold and serves the next ones from its heap, whose freed space it keeps (measured: 73 MB
    kept after the transform's planning on uv x86-64), so one phase's garbage would add to the next
    one's peak. The first call also fixes that threshold at _MMAP_FROM (mallopt M_MMAP_THRESHOLD,
    which turns the raising off for the rest of the process): blocks from 1 MiB on (numpy's arrays,
    the files, the streams) are then mapped and unmapped on their own, so a temporary freed in the
    middle of a phase is returned at once rather than at the next trim. Measured (make_patch's peak
    RSS, system CPU): uv aarch64 172 MiB with glibc's own threshold, 146 MiB at 256 KiB or 1 MiB,
    149 MiB at 4 MiB; the page faults of mapping cost 0.1-0.3 s of system CPU on uv and esbuild
    (creation stays at 0.6-0.8 of bsdiff4's CPU). Elsewhere, or where it is not glibc, nothing happens."""
    if size < _TRIM_FROM or not sys.platform.startswith("linux"):
        return
    import ctypes  # ctypes: only here, for large files

    try:
        libc = ctypes.CDLL(None)
        if not _MALLOC_SET:
            _MALLOC_SET.append(libc.mallopt(-3, _MMAP_FROM))  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass


_MALLOC_SET: list[int] = []


def _encode(method: str, old: bytes, new: bytes, level: int) -> tuple[bytes, int, int]:
    """Return (frame, raw size, window log) for one method."""
    return _compress(method, _diff(method, old, new), level, old)


def _diff(method: str, old: bytes | _FileWindows, new: bytes | _FileWindows) -> list[bytes | bytearray]:
    """HDiffPatch's uncompressed stream of ``old`` -> ``new`` (in sections to join; :func:`ppm.hdiff.diff`),
    or for ``zstd`` the new file itself (compressed against the old one by :func:`_compress`). ``old``
    may be read a window at a time when the files are matched in windows."""
    if method == "zstd":
        assert isinstance(new, bytes)
        return [new]
    try:
        return hdiff.diff(old, new)
    except hdiff.HdiffError as e:
        raise PatchError(str(e)) from e


def _compress(method: str, raw: list[bytes | bytearray], level: int, old: bytes | None) -> tuple[bytes, int, int]:
    """(frame, raw size, window log) of what :func:`_diff` returned; ``old`` is needed for ``zstd`` only."""
    if method == "zstd":
        assert old is not None
        payload, wlog = _zstd_compress(raw[0], level, prefix=old)
        return payload, len(raw[0]), wlog
    size = sum(map(len, raw))
    if len(raw) == 1:  # matched whole: one stream
        payload, wlog = _zstd_compress(raw[0], level)
    else:
        payload, wlog = _zstd_compress_chunks(raw, size, level)
    return payload, size, wlog


def _read_descriptor(info: PatchInfo, desc: bytes) -> tuple[ExeLayout, ExeMaps]:
    """The transform descriptor at the head of the payload, checked before anything is decoded."""
    if len(desc) != info.descriptor_size or len(desc) < 4:
        raise PatchError("corrupt patch: truncated transform descriptor")
    body, (crc,) = desc[:-4], struct.unpack("<I", desc[-4:])
    if zlib.crc32(body) != crc:
        raise PatchError("corrupt patch: transform descriptor checksum mismatch")
    try:
        layout, maps = xt.unpack_descriptor(body, info.new_size)
    except xt.TransformError as e:
        raise PatchError(f"corrupt patch: {e}") from e
    if layout.name != info.transform:
        raise PatchError(f"corrupt patch: the descriptor is for {layout.name}, the header says {info.transform}")
    return layout, maps


def _unpack(info: PatchInfo, payload: bytes) -> tuple[bytes, tuple[ExeLayout, ExeMaps] | None]:
    """What can be decoded without the old file: HDiffPatch's stream, and the transform descriptor."""
    if info.method == "zstd":
        return payload, None
    hdiff.load_decoder()  # (the fallback's import is heavy: here, while the old file is being hashed)

    ctx = None
    if info.transform != "none":
        ctx = _read_descriptor(info, payload[: info.descriptor_size])
        payload = payload[info.descriptor_size :]
    return _zstd_decompress(payload, info.window_log, info.raw_size), ctx


def _rebuild(
    info: PatchInfo, old: bytes, unpacked: bytes, ctx: tuple[ExeLayout, ExeMaps] | None
) -> bytes | bytearray:
    if info.method == "zstd":
        return _zstd_decompress(unpacked, info.window_log, info.new_size, prefix=old)
    buf = _hdiff_apply(old, unpacked, info.new_size)
    if ctx is None:
        return buf
    layout, maps = ctx
    try:
        xt.transform(buf, layout, maps, encode=False)
    except xt.TransformError as e:
        raise PatchError(f"corrupt patch: {e}") from e
    return buf


def _hdiff_apply(old: bytes, stream: bytes, new_size: int) -> bytearray:
    try:
        return hdiff.apply(old, stream, new_size)
    except hdiff.HdiffError as e:
        raise PatchError(f"corrupt patch: {e}") from e


def make_patch(
    old: StrPath,
    new: StrPath,
    out: StrPath,
    *,
    level: int = DEFAULT_LEVEL,
    method: str = "auto",
    transform: bool | None = None,
    max_memory: int | None = None,
    progress: Progress | None = None,
) -> PatchInfo:
    """Write a patch that turns ``old`` into ``new``, and return its header.

    ``method``: ``auto`` (HDiffPatch + zstd, or zstd patch mode when the matcher would need more
    than ``max_memory``), ``hdiff``, ``zstd``, or ``best`` (make every variant, keep the smallest).
    ``transform``: with ``hdiff``, rewrite the executables' references first (format 2) when both
    files are executables of one format and architecture; None (the default) does so whenever it
    applies, False never (format 1), True refuses files it does not apply to.
    ``max_memory`` bounds creation (default: 3/4 of physical memory); a method that would exceed
    it is not attempted. The patch is checked by applying it before it is written.
    """
    if method not in METHODS:
        raise PatchError(f"unknown patch method {method!r}", hint=f"choose one of {', '.join(METHODS)}")
    say = progress or (lambda _msg: None)
    try:
        _release_freed_memory(max(os.stat(old).st_size, os.stat(new).st_size))  # (fixes glibc's mmap threshold first)
    except OSError:
        pass  # reading them says what is wrong
    # Read into bytearrays: the transform's planning masks their code in place rather than in copies;
    # every later phase reads the file it needs again (its sha256 checked), and only while it needs it.
    old_read, new_read = _read_mutable(old, "old file"), _read_mutable(new, "new file")
    old_size, new_size = len(old_read), len(new_read)
    old_sha = hashlib.sha256(old_read).hexdigest()
    new_sha = hashlib.sha256(new_read).hexdigest()
    budget = default_memory_budget() if max_memory is None else max_memory

    def affordable(m: str) -> bool:
        return creation_memory_need(m, old_size, new_size) <= budget

    if method == "auto":
        candidates = ["hdiff"] if affordable("hdiff") else ["zstd"]
    elif method == "best":
        candidates = [m for m in ("hdiff", "zstd") if affordable(m)]
    else:
        candidates = [method]
    if not candidates or not affordable(candidates[0]):
        need = min(creation_memory_need(m, old_size, new_size) for m in (candidates or ["hdiff", "zstd"]))
        raise PatchMemoryError(
            f"making this patch needs about {need >> 20} MiB, more than the {budget >> 20} MiB allowed",
            hint="raise the memory limit, or publish the full file without a patch",
        )
    if transform and "hdiff" not in candidates:
        raise PatchError("the executable transform works with the hdiff method only", hint="drop --transform or use --method hdiff")
    exe = _plan_transform(old_read, new_read, say, force=bool(transform)) if transform is not False and "hdiff" in candidates else None
    if transform and exe is None:
        raise PatchError(
            f"{old} and {new} are not both executables of one format and architecture (ELF, PE or Mach-O; x86-64 or arm64)",
            hint="make the patch without --transform",
        )
    variants: list[tuple[str, _Exe | None]] = []
    for m in candidates:
        if m == "hdiff" and exe is not None:
            variants.append((m, exe))
        if m != "hdiff" or exe is None or (method == "best" and not transform):
            variants.append((m, None))

    del old_read, new_read
    _release_freed_memory(new_size)
    # Memory: each file is held only while a phase needs it (the new file until its transformed copy
    # exists, the old one while it is diffed, or only a window of it at a time) and read again for
    # the round-trip check: creation peaks at one phase's working memory, not at every copy at once.
    made: list[tuple[bytes, PatchInfo]] = []
    for m, x in variants:
        label = m if x is None else f"{m} + {x.name} transform"
        say(f"diffing with {label} (zstd level {level})")
        windowed = m == "hdiff" and hdiff.windows(old_size, new_size) is not None
        target: bytes | _FileWindows
        if x is None:
            target = _read_again(new, "new file", new_sha)
        elif windowed:  # matched a piece at a time: the pieces are read back from a temporary file
            where = os.path.dirname(os.path.abspath(out))
            os.makedirs(where, exist_ok=True)
            target = x.spool(_read_again_mutable(new, "new file", new_sha), where)
        else:
            target = x.apply(_read_again_mutable(new, "new file", new_sha))
        _release_freed_memory(new_size)  # the rewritten copy and the transform's arrays
        old_b = None if windowed else _read_again(old, "old file", old_sha)
        try:
            raw = _diff(m, old_b if old_b is not None else _FileWindows(old, old_size, "old file"), target)
        finally:
            if isinstance(target, _FileWindows):
                target.close()
        if m != "zstd":
            del target
            old_b = None
            _release_freed_memory(new_size)
        frame, raw_size, wlog = _compress(m, raw, level, old_b)
        del raw, old_b
        _release_freed_memory(new_size)  # the diff's stream and zstd's tables
        payload = frame if x is None else x.descriptor + frame
        del frame
        info = PatchInfo(
            method=m, format_version=1 if x is None else 2,
            old_size=old_size, old_sha256=old_sha, new_size=new_size, new_sha256=new_sha,
            patch_size=HEADER_SIZE + len(payload), payload_size=len(payload), raw_size=raw_size, window_log=wlog,
            memory_need=decoder_memory_need(
                m, old_size, new_size, len(payload), raw_size, descriptor_size=0 if x is None else len(x.descriptor)
            ),
            transform="none" if x is None else x.name, descriptor_size=0 if x is None else len(x.descriptor),
        )
        say(f"{label}: {info.patch_size} bytes")
        made.append((payload, info))
    made.sort(key=lambda pi: pi[1].patch_size)
    exe = x = None  # the maps: the round trip rebuilds them from the descriptor, as applying does
    variants.clear()
    _release_freed_memory(new_size)

    while made:
        say("verifying")
        info, ok = _write_verified(out, made, old, new_sha)
        if ok:
            return info
        if info.transform == "none" or transform:
            raise PatchError(f"the {info.method} patch does not reproduce {new}: this is a bug in ppm or its diff library")
        say(f"the {info.transform} transform did not round-trip (a bug in ppm); patching without it")
        if not any(i.transform == "none" for _, i in made):
            old_b, plain_new = _read_again(old, "old file", old_sha), _read_again(new, "new file", new_sha)
            made.append(_make_plain(info.method, old_b, plain_new, old_sha, new_sha, level))  # the loop reaches it next
            del old_b, plain_new
    raise PatchError(f"no patch method reproduces {new}: this is a bug in ppm or its diff library")


def _write_verified(out: StrPath, made: list[tuple[bytes, PatchInfo]], old: StrPath, new_sha: str) -> tuple[PatchInfo, bool]:
    """Take the first patch off ``made``, write it beside ``out``, decode it from there as applying
    does, and rename it over ``out`` if it reproduces the new file (True); else remove it (False).

    Memory: the round trip was make_patch's peak (the old file, the payload, a copy of its frame,
    the decompressed stream, the new file at once). The payload is written first and dropped, the
    frame decompressed before the old file is read (zstd's window and output buffers come and go
    before it), the stream dropped as soon as it is applied, and the old file as soon as it has
    been used: at the peak, the old file, the stream and the new file, nothing else of this size.
    """
    payload, info = made.pop(0)
    fd, tmp = _temp_beside(out)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_pack_header(info))
            f.write(payload)
            del payload  # the only reference: the file holds it now
            f.flush()
            os.fsync(f.fileno())
        with open(tmp, "rb") as f:
            ok = _verify(info, old, f, new_sha)
        if ok:
            os.replace(tmp, out)
            return info, True
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _unlink_quietly(tmp)
    return info, False


def _verify(info: PatchInfo, old: StrPath, f: BinaryIO, new_sha: str) -> bool:
    """Whether the patch written to ``f`` (its descriptor and frame read back) turns ``old`` into the new file."""
    f.seek(HEADER_SIZE)
    desc = f.read(info.descriptor_size)
    frame = f.read()
    if len(desc) + len(frame) != info.payload_size:
        return False
    if info.method == "zstd":
        old_b = _read_again(old, "old file", info.old_sha256)
        return hashlib.sha256(_rebuild(info, old_b, frame, None)).hexdigest() == new_sha
    ctx = _read_descriptor(info, desc) if info.transform != "none" else None
    stream = _zstd_decompress(frame, info.window_log, info.raw_size)
    del frame
    _release_freed_memory(info.new_size)  # zstd's window and output buffers
    new_b = _hdiff_apply(_read_again(old, "old file", info.old_sha256), stream, info.new_size)
    del stream  # and the old file, which only the call above held
    if ctx is not None:
        try:
            xt.transform(new_b, *ctx, encode=False)
        except xt.TransformError:
            return False
    return hashlib.sha256(new_b).hexdigest() == new_sha


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _FileWindows:
    """A file read a window at a time (windowed matching needs no more of it at once): the old file
    by its path, or the transformed new file spooled to an unnamed temporary file beside the patch
    (on disk, so the kernel may drop its pages rather than hold them as memory). What is read is not
    checked here: the round trip, against the old file read again and its sha256 checked, is."""

    def __init__(self, source: StrPath | BinaryIO, size: int, what: str) -> None:
        self.source, self.size, self.what = source, size, what

    def __len__(self) -> int:
        return self.size

    def window(self, start: int, size: int) -> bytes:
        try:
            if isinstance(self.source, (str, os.PathLike)):
                with open(self.source, "rb") as f:
                    f.seek(start)
                    data = f.read(size)
            else:
                self.source.seek(start)
                data = self.source.read(size)
        except OSError as e:
            raise PatchError(f"cannot read the {self.what}: {e.strerror}") from e
        if len(data) != size:
            raise PatchError(f"the {self.what} changed while the patch was being made", hint="make the patch again")
        return data

    def close(self) -> None:
        if not isinstance(self.source, (str, os.PathLike)):
            self.source.close()


def _read_again(path: StrPath, what: str, sha256: str) -> bytes:
    """A file read again during make_patch, refused if it changed since it was first read."""
    data = _read(path, what)
    _check_unchanged(data, path, what, sha256)
    return data


def _read_again_mutable(path: StrPath, what: str, sha256: str) -> bytearray:
    """:func:`_read_again` into a bytearray (the transform rewrites it in place)."""
    data = _read_mutable(path, what)
    _check_unchanged(data, path, what, sha256)
    return data


def _check_unchanged(data: bytes | bytearray, path: StrPath, what: str, sha256: str) -> None:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PatchError(f"{what} {path} changed while the patch was being made", hint="make the patch again")


def _make_plain(method: str, old: bytes, new: bytes, old_sha: str, new_sha: str, level: int) -> tuple[bytes, PatchInfo]:
    payload, raw_size, wlog = _encode(method, old, new, level)
    return payload, PatchInfo(
        method=method, format_version=1,
        old_size=len(old), old_sha256=old_sha, new_size=len(new), new_sha256=new_sha,
        patch_size=HEADER_SIZE + len(payload), payload_size=len(payload), raw_size=raw_size, window_log=wlog,
        memory_need=decoder_memory_need(method, len(old), len(new), len(payload), raw_size),
    )


# ------------------------------------------------------------------------------------- apply


def apply_patch(old: StrPath, patch: StrPath, out: StrPath, *, max_memory: int | None = None) -> None:
    """Turn ``old`` into the new file described by ``patch``, written atomically to ``out``.

    Refuses (PatchMemoryError) before decoding when the patch's declared memory need exceeds
    ``max_memory``; refuses (PatchError) when ``old`` is not the file the patch was made from,
    when the patch is truncated or corrupt, or when the result's hash is wrong. ``out`` keeps the
    old file's permission bits (the patched file is usually an executable).
    """
    info = patch_info(patch)
    if max_memory is not None and info.memory_need > max_memory:
        raise PatchMemoryError(
            f"{patch}: applying needs {info.memory_need >> 20} MiB, more than the {max_memory >> 20} MiB allowed",
            hint="download the full file instead",
        )
    old_b = _read(old, "old file")
    # hashlib releases the GIL: hash the old file while the payload is read and unpacked, and the
    # new one while it is written; nothing is decoded against the old file before it is verified,
    # and nothing is renamed into place before the new one is.
    old_digest = _InThread(_sha256, old_b)
    new_digest: _InThread | None = None
    try:
        try:
            with open(patch, "rb") as f:
                f.seek(HEADER_SIZE)
                payload = f.read()
        except OSError as e:
            raise PatchError(f"cannot read patch {patch}: {e.strerror}") from e
        if len(payload) != info.payload_size:
            raise PatchError(f"{patch}: truncated patch (changed while reading)")
        unpacked, ctx = _unpack(info, payload)
        del payload
        if len(old_b) != info.old_size or old_digest.result() != info.old_sha256:
            raise PatchError(
                f"{old} is not the file this patch applies to (expected sha256 {info.old_sha256}, {info.old_size} bytes)",
                hint="download the full file instead",
            )
        new_b = _rebuild(info, old_b, unpacked, ctx)
        del unpacked, old_b
        new_digest = _InThread(_sha256, new_b)

        def check() -> None:
            assert new_digest is not None
            if len(new_b) != info.new_size or new_digest.result() != info.new_sha256:
                raise PatchError(f"{patch}: the patched file does not match the expected sha256 {info.new_sha256}")

        try:
            mode = os.stat(old).st_mode & 0o7777
        except OSError:
            mode = None
        _write_atomic(out, [new_b], mode, check)
    finally:  # no hashing thread outlives the call, as the thread pool this replaces waited for its work
        for t in (old_digest, new_digest):
            if t is not None:
                t.wait()


def _sha256(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()
