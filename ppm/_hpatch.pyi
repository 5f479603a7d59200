def apply(old: bytes | bytearray | memoryview, diff: bytes | bytearray | memoryview, new_size: int, /) -> bytearray:
    """Apply an uncompressed HDiffPatch (HDIFF13) stream to ``old``: the new file, ``new_size`` bytes.

    Raises ValueError when the stream is compressed, of another format version, malformed or
    truncated, or made for another old or new size.
    """
