"""A ppm action as a real REAPI Action: a Command, an input root Merkle tree, a Platform.

The input root holds
  .ppm-action.json   the action's key ingredients in the canonical JSON the engine hashes: its
                     sha256 *is* ppm's local key, so key and action digest are one-to-one (the
                     rest of the Action is a function of the same ingredients)
  project/<path>     each declared input file, at its project-relative path
  deps/<ref>/<rel>   the outputs of each needed action, under the name the action refers to it by
and the Command writes its outputs under out/. The arguments are ppm's own runner, which the
worker interprets; any REAPI server can store and schedule it without knowing that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ppm.remote.digest import Digest
from ppm.remote.protos import remote_execution_pb2 as re_pb2

ACTION_FILE = ".ppm-action.json"
RUNNER = ("ppm", "worker", "exec", ACTION_FILE)  # `ppm worker exec`: see ppm/remote/runner.py


class UnsafePath(ValueError):
    """A path in an action, a tree or a lease that would leave its root."""


def check_relpath(path: str) -> list[str]:
    """The parts of a relative path that stays under its root, or UnsafePath."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") or "\0" in p or "\\" in p for p in parts):
        raise UnsafePath(f"{path!r} is not a relative path inside the action's directory")
    return parts


@dataclass(frozen=True)
class InputFile:
    digest: Digest
    executable: bool = False


@dataclass
class RemoteAction:
    digest: Digest
    action: re_pb2.Action
    command: re_pb2.Command
    blobs: dict[Digest, bytes] = field(default_factory=dict)  # Action, Command, Directories, action file
    files: dict[str, InputFile] = field(default_factory=dict)  # input-root path -> file (content elsewhere)
    output_paths: tuple[str, ...] = ()


def canonical(ingredients: Mapping[str, Any]) -> bytes:
    """The bytes the engine hashes into its key (same separators, sorted keys)."""
    return json.dumps(ingredients, sort_keys=True, separators=(",", ":")).encode()


def digest_of(msg: Any) -> tuple[Digest, bytes]:
    data = msg.SerializeToString(deterministic=True)
    return Digest.of(data), data


def build_tree(files: Mapping[str, InputFile], blobs: dict[Digest, bytes]) -> Digest:
    """The Merkle tree of `files` as REAPI Directory messages (into `blobs`); the root's digest."""
    root: dict[str, Any] = {}
    for path, f in files.items():
        *dirs, name = check_relpath(path)
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
            if not isinstance(node, dict):
                raise UnsafePath(f"{path!r}: {d!r} is both a file and a directory")
        if name in node:
            raise UnsafePath(f"{path!r} appears twice in the input tree")
        node[name] = f

    def emit(node: dict[str, Any]) -> Digest:
        msg = re_pb2.Directory()
        for name in sorted(node):  # REAPI: files and directories sorted by name
            child = node[name]
            if isinstance(child, dict):
                d = emit(child)
                msg.directories.add(name=name, digest=re_pb2.Digest(hash=d.hash, size_bytes=d.size))
            else:
                msg.files.add(name=name, digest=re_pb2.Digest(hash=child.digest.hash, size_bytes=child.digest.size),
                              is_executable=child.executable)
        d, data = digest_of(msg)
        blobs[d] = data
        return d

    return emit(root)


def to_remote(ingredients: Mapping[str, Any], *, inputs: Mapping[str, InputFile],
              deps: Mapping[str, Mapping[str, InputFile]], outputs: list[str],
              platform: list[tuple[str, str]]) -> RemoteAction:
    """The REAPI Action for one ppm action (its key ingredients, input files and needed outputs)."""
    blobs: dict[Digest, bytes] = {}
    action_json = canonical(ingredients)
    jd = Digest.of(action_json)
    blobs[jd] = action_json
    files: dict[str, InputFile] = {ACTION_FILE: InputFile(jd)}
    for p, f in inputs.items():
        files["project/" + "/".join(check_relpath(p))] = f
    for ref, outs in deps.items():
        # A ref may hold ':' (component:action): fine in a file name, '/' is escaped like out_dir does.
        safe = ref.replace("%", "%25").replace("/", "%2F")
        for rel, f in outs.items():
            files[f"deps/{safe}/" + "/".join(check_relpath(rel))] = f
    root = build_tree(files, blobs)
    out_paths = tuple(sorted("out/" + "/".join(check_relpath(o)) for o in outputs))
    props = [re_pb2.Platform.Property(name=k, value=v) for k, v in sorted(platform)]
    command = re_pb2.Command(arguments=list(RUNNER), output_files=list(out_paths), output_paths=list(out_paths),
                             platform=re_pb2.Platform(properties=props))
    cd, cdata = digest_of(command)
    blobs[cd] = cdata
    action = re_pb2.Action(command_digest=re_pb2.Digest(hash=cd.hash, size_bytes=cd.size),
                           input_root_digest=re_pb2.Digest(hash=root.hash, size_bytes=root.size),
                           platform=re_pb2.Platform(properties=props))
    ad, adata = digest_of(action)
    blobs[ad] = adata
    return RemoteAction(ad, action, command, blobs, files, out_paths)


def pb_digest(d: Digest) -> re_pb2.Digest:
    return re_pb2.Digest(hash=d.hash, size_bytes=d.size)


def from_pb(d: re_pb2.Digest) -> Digest:
    return Digest(d.hash, d.size_bytes)
