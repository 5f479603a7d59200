"""The Store seam on real stores: the local store alone, a layered store (two real local
stores stand in for "near" and "far": a remote store does not exist yet, and the layering
logic is the same whatever the far one is; the remote store itself is driven against real
BuildGrid and nginx in test_remote_cache.py), and cache verification above both."""

from __future__ import annotations

from pathlib import Path

from ppm.build import cache
from ppm.build.localstore import LocalStore
from ppm.build.results import ActionResult
from ppm.build.store import ActionRef, LayeredStore, Store

K, K2 = ActionRef("k"), ActionRef("k2")


def blob_file(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / "src" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_local_store_round_trip(tmp_path: Path) -> None:
    store: Store = LocalStore(tmp_path / "store")
    o = store.put_blob(blob_file(tmp_path, "a", b"hello"))
    assert store.has_blob(o.digest) and o.size == 5
    store.put_action_result(K, ActionResult({"a": o}))
    got = store.get_action_result(K)
    assert got is not None and got.outputs == {"a": o} and got.exit_code == 0
    store.get_blob(o, tmp_path / "out" / "a")
    assert (tmp_path / "out" / "a").read_bytes() == b"hello"
    # A result whose blob vanished is a miss, and is forgotten.
    store.drop_blob(o.digest)
    assert store.get_action_result(K) is None


def test_layered_store_reads_far_and_keeps_near(tmp_path: Path) -> None:
    near, far = LocalStore(tmp_path / "near"), LocalStore(tmp_path / "far")
    o = far.put_blob(blob_file(tmp_path, "a", b"from far"))
    far.put_action_result(K, ActionResult({"a": o}))
    layered = LayeredStore(near, far)
    assert near.get_action_result(K) is None
    hit, corrupt = cache.lookup(layered, K, tmp_path / "restored")
    assert hit is not None and not corrupt
    assert (tmp_path / "restored" / "a").read_bytes() == b"from far"
    assert near.has_blob(o.digest)  # the next read is local
    # A result is recorded in both layers (the far one receives its blobs with it: a remote
    # store uploads them from the near store's CAS in one batch; a local far store has its own).
    o2 = layered.put_blob(blob_file(tmp_path, "b", b"both"))
    far.put_blob(near.cas_path(o2.digest))
    layered.put_action_result(K2, ActionResult({"b": o2}))
    assert near.get_action_result(K2) is not None and far.get_action_result(K2) is not None
    # A result that came from far is kept near and not sent back.
    far_only = ActionResult({"a": o}, origin="far")
    layered.put_action_result(ActionRef("k3"), far_only)
    assert near.get_action_result(ActionRef("k3")) is not None and far.get_action_result(ActionRef("k3")) is None


def test_corrupt_far_blob_is_caught_above_the_seam(tmp_path: Path) -> None:
    near, far = LocalStore(tmp_path / "near"), LocalStore(tmp_path / "far")
    o = far.put_blob(blob_file(tmp_path, "a", b"good bytes"))
    far.put_action_result(K, ActionResult({"a": o}))
    bad = far.cas_path(o.digest)
    bad.chmod(0o644)
    bad.write_bytes(b"evil bytes")  # same size, other content
    hit, corrupt = cache.lookup(LayeredStore(near, far), K, tmp_path / "restored")
    assert hit is None and corrupt
    assert not (tmp_path / "restored").exists()
    assert not near.has_blob(o.digest) and not far.has_blob(o.digest)
    assert far.get_action_result(K) is None
