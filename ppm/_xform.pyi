"""Stub of the C extension ppm/_xform.c (the executable reference transform of ppm.exe_transform)."""

from typing_extensions import Buffer

from ppm.exe_transform import TransformError as TransformError

def transform(
    buf: bytearray,
    arch: int,
    regions: Buffer,
    code_fs: Buffer,
    code_fh: Buffer,
    code_is: Buffer,
    code_ih: Buffer,
    data_fs: Buffer,
    data_fh: Buffer,
    data_is: Buffer,
    data_ih: Buffer,
    encode: bool,
    /,
) -> int: ...

def anchor_pairs(old_masked: Buffer, old_refs: Buffer, new_masked: Buffer, new_refs: Buffer, /) -> bytes: ...
def scan(arch: int, code: Buffer, vaddr: int, /) -> tuple[bytes, bytes, bytes]: ...
def extend_runs(new_masked: Buffer, old_masked: Buffer, pairs: Buffer, shift: int, align: int, /) -> bytes: ...
def map_tables(modulus: int, intervals: Buffer, /) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]: ...
def mask(arch: int, code: Buffer, calls: Buffer, /) -> None: ...
def data_votes(
    arch: int,
    code_starts: Buffer,
    code_shifts: Buffer,
    old_vaddr: int,
    old_refs: Buffer,
    old_targets: Buffer,
    new_vaddr: int,
    new_refs: Buffer,
    new_targets: Buffer,
    /,
) -> bytes: ...
