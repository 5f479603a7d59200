"""Regenerate the *_pb2.py / *_pb2_grpc.py beside this file from the .proto subset.

    python ppm/remote/protos/generate.py        (from the repository root; needs grpcio-tools)

The imports in the generated code are `ppm.remote.protos.*` because the protos are compiled
from the repository root; the proto packages themselves keep the spec's names, so type URLs in
`Any` fields and the bytes on the wire are the standard ones.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main() -> int:
    include = str(files("grpc_tools") / "_proto")
    protos = sorted(str(p.relative_to(ROOT)) for p in HERE.glob("*.proto"))
    args = ["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={ROOT}", f"--grpc_python_out={ROOT}", *protos]
    return protoc.main(args)


if __name__ == "__main__":
    sys.exit(main())
