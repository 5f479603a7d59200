"""Beyond one machine: a remote cache (REAPI or Bazel HTTP), REAPI execution, and the worker.

Nothing here imports grpc or protobuf at module level except the modules that speak gRPC
(`reapi`, `mapping`, `worker`): `ppm --help` and a no-op build never load them.
"""
