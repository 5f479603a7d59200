"""The update repository on disk: TUF metadata (the `tuf` library) and the files it signs.

A plain directory any static file server can serve:

    metadata/1.root.json, 2.root.json, …   every root version, so clients can follow the chain
    metadata/root.json                     the newest root: ship it with the app as its trust anchor
    metadata/<n>.targets.json              consistent snapshots: old and new sets coexist while a
    metadata/<n>.snapshot.json             release is written, so a client mid-refresh never sees
    metadata/timestamp.json                a mix; timestamp.json is written last and flips to the new set
    targets/<target>/<version>/<sha256>.<file>   content-addressed, as ngclient fetches them

This module writes metadata and never holds secrets: callers pass signers (see ppm.release.keys).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_bytes, link_or_copy

if TYPE_CHECKING:
    from securesystemslib.signer import Signer
    from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

ROLES = ("root", "targets", "snapshot", "timestamp")
ONLINE_ROLES = ("targets", "snapshot", "timestamp")


class RepositoryError(PpmError):
    """The update repository is missing, inconsistent, or cannot be signed."""


@dataclass(frozen=True)
class Expiry:
    """How long each role's signature stays valid. A short timestamp expiry bounds how long a
    client can be kept on stale metadata (a freeze attack); re-sign with `ppm release --resign`."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=90)
    snapshot: timedelta = timedelta(days=90)
    timestamp: timedelta = timedelta(days=7)

    def for_role(self, role: str) -> datetime:
        now = datetime.now(UTC).replace(microsecond=0)
        return now + getattr(self, role)


def _tuf() -> Any:
    try:  # tuf: heavy, only when metadata is read or written
        import tuf.api.metadata as m
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RepositoryError("publishing updates needs the `tuf` library", hint="pip install 'ppm[release]'") from e
    return m


class TufRepository:
    """One repository directory. Reads always go through timestamp → snapshot → targets, as a
    client would, so what we extend is exactly what clients currently trust."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.metadata_dir = self.path / "metadata"
        self.targets_dir = self.path / "targets"

    # ------------------------------------------------------------------------------ reading

    def exists(self) -> bool:
        return (self.metadata_dir / "root.json").is_file()

    def _load(self, name: str) -> Metadata[Any]:
        m = _tuf()
        p = self.metadata_dir / name
        try:
            return m.Metadata.from_file(str(p))
        except FileNotFoundError:
            raise RepositoryError(f"update repository {self.path} has no {name}",
                                  hint="run `ppm keys init` to create the repository") from None
        except Exception as e:
            raise RepositoryError(f"update repository: cannot read {p}: {e}") from e

    def root(self) -> Metadata[Root]:
        return self._load("root.json")

    def timestamp(self) -> Metadata[Timestamp]:
        return self._load("timestamp.json")

    def snapshot(self) -> Metadata[Snapshot]:
        v = self.timestamp().signed.snapshot_meta.version
        return self._load(f"{v}.snapshot.json")

    def targets(self) -> Metadata[Targets]:
        v = self.snapshot().signed.meta["targets.json"].version
        return self._load(f"{v}.targets.json")

    # ------------------------------------------------------------------------------ writing

    def _write(self, name: str, md: Metadata[Any]) -> bytes:
        # tuf: heavy, only when metadata is written
        from tuf.api.serialization.json import JSONSerializer

        data = md.to_bytes(JSONSerializer(compact=False))
        atomic_write_bytes(self.metadata_dir / name, data, fsync=True)
        os.chmod(self.metadata_dir / name, 0o644)  # public: any static server must be able to read it
        return data

    @staticmethod
    def _sign(md: Metadata[Any], signers: Iterable[Signer], role: str, root: Root) -> None:
        """Sign with every signer given and check the threshold is met before anything is written."""
        md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        keyids = set(root.roles[role].keyids)
        have = {k for k in md.signatures if k in keyids}
        if len(have) < root.roles[role].threshold:
            raise RepositoryError(
                f"the {role} role needs {root.roles[role].threshold} signature(s), only {len(have)} key(s) available",
                hint="point --keys-dir / --root-key-dir at the directory holding the keys for this role",
            )

    def write_root(self, root: Root, signers: Iterable[Signer]) -> None:
        """Write a new root version (signed by every signer given: for a rotation, old and new keys)."""
        m = _tuf()
        md = m.Metadata(root)
        self._sign(md, signers, "root", root)
        if self.exists():
            # The old root's threshold must also be met, or clients cannot follow the chain.
            old = self.root().signed
            try:
                old.verify_delegate("root", md.signed_bytes, md.signatures)
            except Exception as e:
                raise RepositoryError(f"new root v{root.version} is not signed by enough of the current root keys: {e}",
                                      hint="pass --root-key-dir with the current root keys") from e
        self._write(f"{root.version}.root.json", md)
        self._write("root.json", md)

    def init_online(self, root: Root, signers: Mapping[str, Iterable[Signer]], expiry: Expiry) -> None:
        """First targets/snapshot/timestamp: an empty but valid repository."""
        m = _tuf()
        targets = m.Targets(expires=expiry.for_role("targets"))
        snapshot = m.Snapshot(expires=expiry.for_role("snapshot"))
        timestamp = m.Timestamp(expires=expiry.for_role("timestamp"))
        targets.version = snapshot.version = timestamp.version = 0  # _publish bumps them to 1
        self._publish(root, signers, targets, snapshot, timestamp, expiry)

    def publish(self, signers: Mapping[str, Iterable[Signer]], expiry: Expiry, *,
                add: Mapping[str, Any] | None = None, remove: Iterable[str] = ()) -> int:
        """Add (or replace) target entries, then write new targets, snapshot and timestamp
        versions, in that order. Returns the new targets version."""
        root = self.root().signed
        ts, snap, tg = self.timestamp().signed, self.snapshot().signed, self.targets().signed
        for p in remove:
            tg.targets.pop(p, None)
        for p, tf in (add or {}).items():
            tg.targets[p] = tf
        return self._publish(root, signers, tg, snap, ts, expiry)

    def _publish(self, root: Root, signers: Mapping[str, Iterable[Signer]], tg: Targets, snap: Snapshot,
                 ts: Timestamp, expiry: Expiry) -> int:
        m = _tuf()
        tg.version += 1
        tg.expires = expiry.for_role("targets")
        md = m.Metadata(tg)
        self._sign(md, signers.get("targets", ()), "targets", root)
        data = self._write(f"{tg.version}.targets.json", md)

        snap.version += 1
        snap.expires = expiry.for_role("snapshot")
        snap.meta["targets.json"] = m.MetaFile(version=tg.version, length=len(data),
                                               hashes={"sha256": hashlib.sha256(data).hexdigest()})
        md = m.Metadata(snap)
        self._sign(md, signers.get("snapshot", ()), "snapshot", root)
        data = self._write(f"{snap.version}.snapshot.json", md)

        ts.version += 1
        ts.expires = expiry.for_role("timestamp")
        ts.snapshot_meta = m.MetaFile(version=snap.version, length=len(data),
                                      hashes={"sha256": hashlib.sha256(data).hexdigest()})
        md = m.Metadata(ts)
        self._sign(md, signers.get("timestamp", ()), "timestamp", root)
        self._write("timestamp.json", md)  # last: this flips clients to the new set
        return tg.version

    # ------------------------------------------------------------------------------ target files

    def add_file(self, target_path: str, local: Path, custom: dict[str, Any] | None = None) -> Any:
        """Place `local` under targets/ by its hash (hard link when possible) and return its TargetFile."""
        m = _tuf()
        tf = m.TargetFile.from_file(target_path, str(local), ["sha256"])
        if custom:
            tf.unrecognized_fields["custom"] = custom
        dirname, sep, base = target_path.rpartition("/")
        dest = self.targets_dir / f"{dirname}{sep}{tf.hashes['sha256']}.{base}"
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            if tmp.exists():
                tmp.unlink()
            link_or_copy(local, tmp)
            os.chmod(tmp, os.stat(tmp).st_mode | 0o444)
            os.replace(tmp, dest)
        return tf

    def file_path(self, target_path: str, tf: Any) -> Path:
        dirname, sep, base = target_path.rpartition("/")
        return self.targets_dir / f"{dirname}{sep}{tf.hashes['sha256']}.{base}"


# ------------------------------------------------------------------------------ serving


@contextmanager
def serve(directory: Path, *, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (threaded http.server); yields the base URL.
    For testing: production serves the same directory with any static file server."""
    root = os.path.realpath(directory)

    class Quiet(SimpleHTTPRequestHandler):
        """Files of the repository only: no directory listings, and nothing a symbolic link
        inside it points at outside it (a release directory is shared, and links get in)."""

        def log_message(self, *args: Any) -> None:
            pass

        def list_directory(self, path: str) -> None:  # type: ignore[override]
            self.send_error(404, "Not Found")
            return None

        def send_head(self):
            path = os.path.realpath(self.translate_path(self.path))
            if os.path.commonpath([root, path]) != root or os.path.isdir(path):
                self.send_error(404, "Not Found")
                return None
            return super().send_head()

    httpd = ThreadingHTTPServer((host, port), functools.partial(Quiet, directory=str(directory)))
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
