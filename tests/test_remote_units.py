"""The pieces of ppm/remote that need no server: the Action mapping (key <-> digest), the Merkle
tree, path checks, digest verification, retries."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("grpc", reason="grpcio is not installed (pip install 'ppm[remote]')")

from ppm.remote import retry
from ppm.remote.digest import BlobCorrupt, Digest, verified
from ppm.remote.mapping import (
    ACTION_FILE,
    InputFile,
    UnsafePath,
    build_tree,
    check_relpath,
    to_remote,
)
from ppm.remote.platform import platform_properties
from ppm.remote.protos import remote_execution_pb2 as re_pb2

ING = {"builder": "cc/1", "target": "linux-x86_64", "host": "linux-x86_64", "tools": {"cc": "abc"},
       "inputs": {"src/a.c": hashlib.sha256(b"int a;").hexdigest()}, "outputs": ["a.o"], "commands": [["cc"]]}


def remote(ing: dict) -> tuple:
    inputs = {p: InputFile(Digest(d, 6)) for p, d in ing["inputs"].items()}
    deps = {"mathx": {"libmathx.a": InputFile(Digest("0" * 64, 10), True)}}
    return to_remote(ing, inputs=inputs, deps=deps, outputs=ing["outputs"],
                     platform=platform_properties(ing["tools"], ing["host"]))


def test_the_action_file_digest_is_the_local_key() -> None:
    from ppm.build.keys import key_of

    ra = remote(ING)
    key = key_of(ING)
    root = re_pb2.Directory()
    root.ParseFromString(ra.blobs[Digest(ra.action.input_root_digest.hash, ra.action.input_root_digest.size_bytes)])
    (node,) = [f for f in root.files if f.name == ACTION_FILE]
    assert node.digest.hash == key
    assert json.loads(ra.blobs[Digest(key, node.digest.size_bytes)]) == ING


def test_same_key_same_digest_other_key_other_digest() -> None:
    assert remote(ING).digest == remote(json.loads(json.dumps(ING))).digest
    changed = {**ING, "commands": [["cc", "-O2"]]}
    assert remote(changed).digest != remote(ING).digest
    other_host = {**ING, "host": "linux-aarch64"}
    ra = remote(other_host)
    assert ra.digest != remote(ING).digest
    assert ("ISA", "aarch64") in [(p.name, p.value) for p in ra.action.platform.properties]


def test_action_shape_follows_reapi() -> None:
    ra = remote(ING)
    assert list(ra.command.arguments) == ["ppm", "worker", "exec", ACTION_FILE]
    assert list(ra.command.output_paths) == ["out/a.o"]
    props = [(p.name, p.value) for p in ra.action.platform.properties]
    assert props == sorted(props) and ("ppm-toolchain", "cc=abc") in props and ("OSFamily", "linux") in props
    assert set(ra.files) == {ACTION_FILE, "project/src/a.c", "deps/mathx/libmathx.a"}


def test_merkle_tree_is_sorted_and_deterministic() -> None:
    blobs: dict[Digest, bytes] = {}
    f = InputFile(Digest.of(b"x"))
    a = build_tree({"b/y": f, "a": f, "b/x": f}, blobs)
    b = build_tree({"b/x": f, "b/y": f, "a": f}, {})
    assert a == b
    root = re_pb2.Directory()
    root.ParseFromString(blobs[a])
    assert [n.name for n in root.files] == ["a"] and [n.name for n in root.directories] == ["b"]


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b"])
def test_paths_that_leave_their_root_are_refused(path: str) -> None:
    with pytest.raises(UnsafePath):
        check_relpath(path)
    with pytest.raises(UnsafePath):
        build_tree({path: InputFile(Digest.of(b""))}, {})


def test_verified_refuses_a_blob_that_is_not_what_was_asked() -> None:
    d = Digest.of(b"hello")
    assert verified(b"hello", d, "test") == b"hello"
    with pytest.raises(BlobCorrupt) as e:
        verified(b"hellO", d, "test")
    assert e.value.digest == d and d.hash in str(e.value)
    with pytest.raises(BlobCorrupt):
        verified(b"hello!", Digest(d.hash, 6), "test")  # right hash, wrong size


def test_retry_backs_off_on_transient_errors_only() -> None:
    calls, sleeps = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    policy = retry.RetryPolicy(attempts=4, first_delay=0.1, max_delay=0.15)
    assert retry.call(flaky, transient=lambda e: isinstance(e, ConnectionError), policy=policy, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 <= s <= 0.15 for s in sleeps)

    def refused() -> str:
        calls.append(1)
        raise ValueError("not worth a retry")

    def down() -> str:
        calls.append(1)
        raise ConnectionError("still down")

    calls.clear()
    with pytest.raises(ValueError):
        retry.call(refused, transient=lambda e: isinstance(e, ConnectionError), policy=policy, sleep=sleeps.append)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(ConnectionError):
        retry.call(down, transient=lambda e: True, policy=policy, sleep=sleeps.append)
    assert len(calls) == policy.attempts


def test_the_no_op_fast_path_takes_remote_options_and_leaves_odd_ones_to_the_full_path() -> None:
    from ppm.build.fastpath import _parse

    assert _parse(["--json", "--remote-executor", "grpc://h:1", "--remote-fallback=local", "--no-remote-upload"]) == {
        "json": True, "--remote-executor": "grpc://h:1", "--remote-fallback": "local"}
    assert _parse(["--remote-cache=https://h/c", "-j2"]) == {"json": False, "--remote-cache": "https://h/c"}
    # A malformed value is the full path's to name (exit 2), never a silent no-op.
    for argv in (["--remote-cache", "ftp://x"], ["--remote-executor"], ["--remote-fallback", "sometimes"],
                 ["--remote-cache=--json"]):
        assert _parse(argv) is None, argv


def test_an_action_for_another_target_carries_that_platform() -> None:
    from ppm.build.store import ActionRef

    ing = {"host": "linux-aarch64", "tools": {"pyinstaller": "abc", "cc": "def"}}
    # A found tool is a property; a provisioned one (pinned) is not: the lease provisions it.
    assert ActionRef("k", ingredients=ing).platform == (
        ("ISA", "aarch64"), ("OSFamily", "linux"), ("ppm-toolchain", "cc=def"))
    assert ("OSFamily", "windows") in ActionRef("k", ingredients={**ing, "host": "windows-x86_64"}).platform


def test_worker_offers_only_the_toolchains_it_is_told() -> None:
    from ppm.core.errors import ToolchainError
    from ppm.remote.worker import worker_platform

    every = [v for k, v in worker_platform() if k == "ppm-toolchain"]
    # What ppm provisions at its pins is never offered (no action asks for it as a property), so
    # the offer stays small for BuildGrid's subset matching.
    assert every and not any(v.split("=")[0] in ("zig", "esbuild", "pyinstaller", "nuitka") for v in every)
    only = worker_platform([("pool", "c")], only=["cc"])
    tools = [v for k, v in only if k == "ppm-toolchain"]
    assert ("pool", "c") in only and ("OSFamily", "linux") in only
    assert all(t.startswith("cc=") for t in tools) and set(tools) <= set(every)
    with pytest.raises(ToolchainError, match="nosuchtool"):
        worker_platform(only=["nosuchtool"])


def test_worker_blob_cache_is_bounded_and_skips_big_blobs() -> None:
    from ppm.remote.worker import BLOB_CACHE_ITEM, BlobCache

    cache = BlobCache(limit=10)
    a, b, big = Digest.of(b"aaaaaa"), Digest.of(b"bbbbbb"), Digest.of(b"x" * (BLOB_CACHE_ITEM + 1))
    cache.put(a, b"aaaaaa")
    cache.put(big, b"x" * (BLOB_CACHE_ITEM + 1))
    assert cache.get(a) == b"aaaaaa" and cache.get(big) is None
    cache.put(b, b"bbbbbb")  # 12 bytes > 10: the least recently used goes
    assert cache.get(a) is None and cache.get(b) == b"bbbbbb" and cache.size == 6


def test_runner_in_process_captures_output_and_stops_at_a_failed_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What `ppm worker` runs in each lease's thread: real subprocesses, a clean environment."""
    from ppm.remote.runner import Runner, exec_action

    spec = {"target": "linux-x86_64", "outputs": ["x.txt"], "tools": {}, "src": ".",
            "commands": [["/bin/sh", "-c", "echo HOME=$HOME; env | grep -c . ; echo hi > {out}/x.txt"],
                         ["/bin/sh", "-c", "echo failing >&2; exit 3"], ["/bin/sh", "-c", "touch {out}/never"]]}
    (tmp_path / "project").mkdir()
    (tmp_path / ACTION_FILE).write_text(json.dumps(spec))
    seen = []
    runner = Runner(capture=True, track=seen.append)
    assert exec_action(tmp_path, ACTION_FILE, runner) == 3
    text = runner.output.decode()
    assert f"HOME={tmp_path / 'work'}" in text and "failing" in text and "command failed (exit 3)" in text
    assert int(text.splitlines()[1]) <= 8  # PATH, HOME, TMPDIR, LANG, LC_ALL, PPM_TARGET (+ the shell's PWD …)
    assert (tmp_path / "out" / "x.txt").read_text() == "hi\n" and not (tmp_path / "out" / "never").exists()
    assert [p is None for p in seen] == [False, True, False, True]  # each process shown to the worker, then gone
