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
