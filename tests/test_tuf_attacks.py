"""Attacks the update client must refuse, against a repository served on 127.0.0.1 (a real
http.server): tampered files, bad or too few signatures, rolled-back and expired metadata,
mix-and-match, endless data, a valid file under another name; and a rotated root it must follow."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_update_support import Install, Published, make_project, needs_cc, output_of

from ppm.release.keys import KeyDirs, load_signers, online_signers, rotate_keys
from ppm.release.tufrepo import Expiry, TufRepository
from ppm.update import client as update

pytestmark = needs_cc
pytest_plugins = ("test_update_support",)  # its fixtures: bins, published, server, install


def _refused(pub: Published, url: str, inst: Install, match: str) -> None:
    before = inst.exe.read_bytes()
    with pytest.raises(update.UpdateError, match=match):
        update.update(url, inst.exe, "1.0.0", root_json=inst.root_json)
    assert inst.exe.read_bytes() == before
    assert output_of(inst.exe) == "1.0.0"


def _flip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))


def _write_md(repo: TufRepository, name: str, md: object) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    data = md.to_bytes(JSONSerializer(compact=False))  # type: ignore[attr-defined]
    (repo.metadata_dir / name).write_bytes(data)
    return data


def _resign_snapshot_and_timestamp(pub: Published, repo: TufRepository, targets_data: bytes, targets_version: int) -> None:
    """What an attacker holding the snapshot and timestamp keys (but not the targets key) can do."""
    from tuf.api.metadata import MetaFile

    root = repo.root()
    signers = {r: load_signers(root, r, [pub.keys_online]) for r in ("snapshot", "timestamp")}
    snap = repo.snapshot()
    snap.signed.version += 1
    snap.signed.meta["targets.json"] = MetaFile(targets_version, len(targets_data),
                                                {"sha256": hashlib.sha256(targets_data).hexdigest()})
    snap.signatures.clear()
    snap.sign(signers["snapshot"][0])
    sdata = _write_md(repo, f"{snap.signed.version}.snapshot.json", snap)
    ts = repo.timestamp()
    ts.signed.version += 1
    ts.signed.snapshot_meta = MetaFile(snap.signed.version, len(sdata), {"sha256": hashlib.sha256(sdata).hexdigest()})
    ts.signatures.clear()
    ts.sign(signers["timestamp"][0])
    _write_md(repo, "timestamp.json", ts)


# ------------------------------------------------------------------------------ files


def test_tampered_patch_is_refused_and_full_file_used(published: Published, server: str, install: Install) -> None:
    _flip(published.served_file(f"{published.target}/1.1.0/app.from-1.0.0.patch"))
    res = update.update(server, install.exe, "1.0.0", root_json=install.root_json)
    assert res is not None and res.method == "compressed"
    assert "LengthOrHashMismatchError" in res.fallbacks[0]
    assert output_of(install.exe) == "1.1.0"


def test_tampered_bundle_patch_and_compressed_are_all_refused(published: Published, server: str, install: Install) -> None:
    t = published.target
    for name in ("app.from-1.0.0.patch", "app.zst", "app"):
        _flip(published.served_file(f"{t}/1.1.0/{name}"))
    _refused(published, server, install, r"could not get a verified copy.*LengthOrHashMismatch.*LengthOrHashMismatch.*LengthOrHashMismatch")


def test_valid_file_under_another_name_is_refused(published: Published, server: str, install: Install) -> None:
    t = published.target
    # Each 1.1.0 file replaced by a genuine, once-signed file of 1.0.0 (the old bundle, its zstd form).
    old_bundle = published.served_file(f"{t}/1.0.0/app").read_bytes()
    old_zst = published.served_file(f"{t}/1.0.0/app.zst").read_bytes()
    published.served_file(f"{t}/1.1.0/app").write_bytes(old_bundle)
    published.served_file(f"{t}/1.1.0/app.zst").write_bytes(old_zst)
    published.served_file(f"{t}/1.1.0/app.from-1.0.0.patch").write_bytes(old_zst)
    _refused(published, server, install, "could not get a verified copy")


def test_old_latest_json_under_current_name_is_refused(published: Published, server: str, install: Install) -> None:
    old = published.root / "dist" / "releases" / "1.0.0" / published.target / "latest.json"
    published.served_file(f"{published.target}/latest.json").write_bytes(old.read_bytes())
    _refused(published, server, install, r"refused \(LengthOrHashMismatchError\)")


# ------------------------------------------------------------------------------ signatures


def test_metadata_changed_without_signature_is_refused(published: Published, server: str, install: Install) -> None:
    ts = published.repo / "metadata" / "timestamp.json"
    ts.write_text(ts.read_text().replace('"version": ', '"version": 1', 1))  # bump a signed field, keep the signature
    _refused(published, server, install, r"refused \(UnsignedMetadataError\)")


def test_targets_signed_by_wrong_key_is_refused(published: Published, server: str, install: Install) -> None:
    from securesystemslib.signer import CryptoSigner

    repo = TufRepository(published.repo)
    tg = repo.targets()
    tg.signed.version += 1
    bundle = tg.signed.targets[f"{published.target}/1.1.0/app"]
    bundle.hashes["sha256"] = hashlib.sha256(b"evil").hexdigest()
    tg.signatures.clear()
    tg.sign(CryptoSigner.generate_ed25519())  # the attacker's own key
    data = _write_md(repo, f"{tg.signed.version}.targets.json", tg)
    _resign_snapshot_and_timestamp(published, repo, data, tg.signed.version)
    _refused(published, server, install, r"refused \(UnsignedMetadataError\)")


def test_root_signed_below_threshold_is_refused(tmp_path: Path, bins: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Root needs 2 of 2 root keys; an attacker with one of them cannot publish a new root."""
    from securesystemslib.signer import CryptoSigner

    pub = make_project(tmp_path, root_keys=2, threshold=2)
    pub.publish("1.0.0", bins["1.0.0"])
    pub.publish("1.1.0", bins["1.1.0"])
    repo = TufRepository(pub.repo)
    root = repo.root()
    one_key = load_signers(root, "root", [pub.keys_root])[0]
    evil = CryptoSigner.generate_ed25519()
    r = root.signed
    r.version += 1
    for role in ("root", "targets", "snapshot", "timestamp"):
        for k in list(r.roles[role].keyids):
            r.revoke_key(k, role)
        r.add_key(evil.public_key, role)
    r.roles["root"].threshold = 1
    root.signatures.clear()
    root.sign(one_key)
    root.sign(evil, append=True)
    _write_md(repo, f"{r.version}.root.json", root)
    # ppm itself refuses to write such a root:
    from ppm.release.tufrepo import RepositoryError

    with pytest.raises(RepositoryError, match="not signed by enough of the current root keys"):
        repo.write_root(r, [one_key, evil])
    inst = _install(tmp_path, bins, pub)
    with serve_dir(pub.repo) as url:
        _refused(pub, url, inst, r"refused \(UnsignedMetadataError\).*root")


def test_online_role_below_threshold_is_refused(tmp_path: Path, bins: dict[str, Path]) -> None:
    """The root asks for 2 targets signatures; metadata signed by one is refused."""
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    repo = TufRepository(pub.repo)
    root = repo.root().signed
    root.version += 1
    from securesystemslib.signer import CryptoSigner

    second = CryptoSigner.generate_ed25519()
    root.add_key(second.public_key, "targets")
    root.roles["targets"].threshold = 2
    repo.write_root(root, load_signers(repo.root(), "root", [pub.keys_root]))
    inst = _install(tmp_path, bins, pub)
    # ppm refuses to publish with one of two targets keys…
    from ppm.release.keys import KeyStoreError

    with pytest.raises(KeyStoreError, match="targets"):
        pub.publish("1.1.0", bins["1.1.0"])
    # …and a client refuses metadata signed that way (by an attacker who kept snapshot/timestamp keys).
    tg = repo.targets()
    tg.signed.version += 1
    tg.signatures.clear()
    tg.sign(load_signers(repo.root(), "targets", [pub.keys_online])[0])
    data = _write_md(repo, f"{tg.signed.version}.targets.json", tg)
    _resign_snapshot_and_timestamp(pub, repo, data, tg.signed.version)
    with serve_dir(pub.repo) as url, pytest.raises(update.UpdateError, match=r"refused \(UnsignedMetadataError\)"):
        update.check(url, inst.exe, "1.0.0", root_json=inst.root_json)


# ------------------------------------------------------------------------------ versions and time


def test_rolled_back_timestamp_is_refused(published: Published, server: str, install: Install, bins: dict[str, Path]) -> None:
    meta = published.repo / "metadata"
    saved = {p.name: p.read_bytes() for p in meta.iterdir()}
    published.publish("1.2.0", bins["1.2.0"])
    assert update.check(server, install.exe, "1.0.0", root_json=install.root_json).version == "1.2.0"
    (meta / "timestamp.json").write_bytes(saved["timestamp.json"])  # the attacker replays yesterday's state
    _refused(published, server, install, r"refused \(BadVersionNumberError\)")


def test_rolled_back_snapshot_is_refused(published: Published, server: str, install: Install, bins: dict[str, Path]) -> None:
    """A freshly signed timestamp (compromised timestamp key) pointing at an older snapshot."""
    from tuf.api.metadata import MetaFile

    repo = TufRepository(published.repo)
    old_snap_v = repo.timestamp().signed.snapshot_meta.version
    published.publish("1.2.0", bins["1.2.0"])
    assert update.check(server, install.exe, "1.0.0", root_json=install.root_json).version == "1.2.0"
    data = (repo.metadata_dir / f"{old_snap_v}.snapshot.json").read_bytes()
    ts = repo.timestamp()
    ts.signed.version += 1
    ts.signed.snapshot_meta = MetaFile(old_snap_v, len(data), {"sha256": hashlib.sha256(data).hexdigest()})
    ts.signatures.clear()
    ts.sign(online_signers(repo, published.keys_online)["timestamp"][0])
    _write_md(repo, "timestamp.json", ts)
    _refused(published, server, install, r"refused \(BadVersionNumberError\)")


def test_expired_metadata_is_refused(published: Published, server: str, install: Install) -> None:
    """A freeze: the server keeps serving metadata whose timestamp has expired."""
    from ppm.release.publish import resign

    resign(published.root, keys_dir=published.keys_online, expiry=Expiry(timestamp=timedelta(seconds=-60)))
    _refused(published, server, install, r"refused \(ExpiredMetadataError\)")


def test_mix_and_match_is_refused(published: Published, server: str, install: Install) -> None:
    """Current snapshot, but an older (validly signed) targets under the current targets name."""
    repo = TufRepository(published.repo)
    v = repo.snapshot().signed.meta["targets.json"].version
    older = (repo.metadata_dir / f"{v - 1}.targets.json").read_bytes()
    (repo.metadata_dir / f"{v}.targets.json").write_bytes(older)
    _refused(published, server, install, r"refused \((BadVersionNumberError|LengthOrHashMismatchError|RepositoryError)\)")


# ------------------------------------------------------------------------------ endless data


class _EndlessHandler(SimpleHTTPRequestHandler):
    endless: tuple[str, ...] = ()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not any(self.path.endswith(s) for s in self.endless):
            return super().do_GET()
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(path.read_bytes())
            for _ in range(1 << 16):  # 1 GiB: far beyond any signed length
                self.wfile.write(b"\0" * (1 << 14))
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def serve_dir(directory: Path, endless: tuple[str, ...] = ()) -> Iterator[str]:
    handler = type("H", (_EndlessHandler,), {"endless": endless})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _install(tmp_path: Path, bins: dict[str, Path], pub: Published) -> Install:
    from test_update_support import make_install

    return make_install(tmp_path / "install", bins["1.0.0"], pub.root_json)


def test_endless_target_data_is_refused(published: Published, install: Install) -> None:
    with serve_dir(published.repo, endless=(".patch", ".zst", ".app")) as url:
        _refused(published, url, install, r"could not get a verified copy.*DownloadLengthMismatchError")


def test_endless_metadata_is_refused(published: Published, install: Install) -> None:
    with serve_dir(published.repo, endless=("timestamp.json",)) as url:
        _refused(published, url, install, r"refused \(DownloadLengthMismatchError\)")


# ------------------------------------------------------------------------------ key rotation


def test_rotated_root_is_followed(published: Published, server: str, install: Install, bins: dict[str, Path]) -> None:
    repo = TufRepository(published.repo)
    dirs = KeyDirs(published.keys_root, published.keys_online)
    # A client that trusted root v1 before the rotations…
    assert update.check(server, install.exe, "1.0.0", root_json=install.root_json).version == "1.1.0"
    rotate_keys(repo, dirs, ["root", "targets", "snapshot", "timestamp"])
    rotate_keys(repo, dirs, ["root", "timestamp"], root_keys=2, threshold=2)
    assert repo.root().signed.version == 3
    published.publish("1.2.0", bins["1.2.0"])
    # …follows 1 → 2 → 3 and verifies everything with the new keys.
    res = update.update(server, install.exe, "1.0.0", root_json=install.root_json)
    assert res is not None and res.version == "1.2.0"
    assert output_of(install.exe) == "1.2.0"
    trusted = install.dir / ".app.ppm-update" / "metadata" / "root.json"
    import json

    assert json.loads(trusted.read_text())["signed"]["version"] == 3
    # A fresh install shipping the old root.json (v1) follows the chain too.
    from test_update_support import make_install

    fresh = make_install(install.dir.parent / "fresh", bins["1.0.0"], install.root_json)
    assert update.update(server, fresh.exe, "1.0.0", root_json=fresh.root_json).version == "1.2.0"
    # Retired keys are moved aside, not left where `ppm release` would find them.
    assert list((published.keys_online / "retired").glob("*.pem"))


def test_metadata_signed_with_retired_key_is_refused(published: Published, server: str, install: Install) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    repo = TufRepository(published.repo)
    old_ts_keyid = repo.root().signed.roles["timestamp"].keyids[0]
    old_key = published.keys_online / f"{old_ts_keyid}.pem"
    stolen = published.keys_online.parent / "stolen.pem"
    shutil.copy2(old_key, stolen)
    rotate_keys(repo, KeyDirs(published.keys_root, published.keys_online), ["timestamp"])
    assert update.check(server, install.exe, "1.0.0", root_json=install.root_json) is not None
    ts = repo.timestamp()
    ts.signed.version += 1
    ts.signatures.clear()
    ts.sign(CryptoSigner(load_pem_private_key(stolen.read_bytes(), None)))
    _write_md(repo, "timestamp.json", ts)
    _refused(published, server, install, r"refused \(UnsignedMetadataError\)")
