"""The local store: a content-addressed directory and an SQLite action cache.

  store/cas/<ab>/<sha256>      blobs (output files, logs), read-only, named by their content's digest
  store/ac.sqlite              action key -> ActionResult as JSON

An action-cache entry is written only after every output it names is in the CAS, so a build
killed at any moment leaves entries that are complete or absent. Entries are verified when
taken (by the engine, above the Store interface): a CAS file whose content no longer matches
its name is dropped with the entry, and the action reruns.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

from ppm.build.results import ActionResult, OutputFile
from ppm.build.store import ActionRef
from ppm.core.errors import CacheError
from ppm.core.fsutil import link_or_copy, sha256_file

# SQLite's primary result codes (sqlite3.h): only these two mean the file itself is damaged
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_AC_HINT = {
    8: "the cache is read-only here: point PPM_CACHE_DIR at a writable place",  # SQLITE_READONLY
    13: "the disk is full: free space there (the cache is PPM_CACHE_DIR, default ~/.cache/ppm)",  # SQLITE_FULL
    5: "another ppm holds the cache for too long: try again",  # SQLITE_BUSY
    14: "the cache directory cannot be opened: check PPM_CACHE_DIR and its permissions",  # SQLITE_CANTOPEN
}


def _primary(e: sqlite3.Error) -> int:
    return (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def _is_corrupt(e: sqlite3.DatabaseError) -> bool:
    code = _primary(e)
    if code:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(e).lower()  # an error raised before SQLite gave a code
    return "malformed" in text or "not a database" in text


class LocalStore:
    """The Store on this machine's disk (see ppm.build.store.Store)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cas = root / "cas"
        self._made: set[str] = set()  # shard directories known to exist
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()

    def _shard(self, path: Path) -> None:
        d = str(path.parent)
        if d not in self._made:
            os.makedirs(d, exist_ok=True)
            self._made.add(d)

    def cas_path(self, digest: str) -> Path:
        return self.cas / digest[:2] / digest

    # -- action cache -------------------------------------------------------------------
    # One SQLite database in WAL mode rather than a file per entry: a build of thousands of
    # small actions spent ~2 ms of file-system work per entry file; a row costs ~50 µs, and
    # SQLite keeps concurrent builds from different projects (one store) safe.
    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._db_lock:
            attempt = 0
            busy_until = 0.0
            while True:
                try:
                    if self._db is None:
                        self._db = self._open()
                    return self._db.execute(sql, args).fetchall()
                except sqlite3.DatabaseError as e:
                    # SQLITE_BUSY/LOCKED that bypass the busy timeout (a WAL snapshot moved on, a
                    # recovery or schema change in another process: `ppm cache prune` during a
                    # build) pass within moments: wait them out, for up to a minute.
                    if _primary(e) in (5, 6):
                        now = time.monotonic()
                        busy_until = busy_until or now + 60
                        if now < busy_until:
                            time.sleep(0.05)
                            continue
                    if not _is_corrupt(e):
                        # a full disk, a read-only file system, a lock held too long: the
                        # database is fine and its entries are worth keeping; say so and stop
                        raise CacheError(f"action cache {self.root / 'ac.sqlite'}: {e}",
                                         hint=_AC_HINT.get(_primary(e), "check that file and its directory")) from None
                    if attempt:
                        raise CacheError(f"action cache {self.root / 'ac.sqlite'}: still corrupt after starting anew ({e})",
                                         hint="delete that file and its -wal/-shm companions") from None
                    self._reset()  # a corrupt database is set aside, never trusted
                    attempt += 1

    def _open(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.root / "ac.sqlite"), timeout=60, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS ac (key TEXT PRIMARY KEY, outputs TEXT NOT NULL)")
        # When each entry was last put or hit, for `ppm cache prune` (least recently used first).
        if "used" not in {row[1] for row in db.execute("PRAGMA table_info(ac)")}:
            try:
                db.execute("ALTER TABLE ac ADD COLUMN used INTEGER NOT NULL DEFAULT 0")
            except sqlite3.OperationalError:  # another process added it first
                pass
        return db

    def _reset(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        path = self.root / "ac.sqlite"
        if path.exists():
            os.replace(path, self.root / f"ac.sqlite.corrupt-{os.getpid()}")
            for suffix in ("-wal", "-shm"):
                try:
                    os.unlink(f"{path}{suffix}")
                except FileNotFoundError:
                    pass

    def get_action_result(self, ref: ActionRef) -> ActionResult | None:
        """The result recorded for the key, if the entry is readable and every blob is present."""
        key = ref.key
        rows = self._query("SELECT outputs FROM ac WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            result = ActionResult.from_json(json.loads(rows[0][0]))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            self.drop_action_result(ref)  # unreadable (or older-format) entry: a miss, never a hit
            return None
        digests = [o.digest for o in result.outputs.values()]
        if result.stdout_digest:
            digests.append(result.stdout_digest)
        if not all(self.has_blob(d) for d in digests):
            self.drop_action_result(ref)
            return None
        self._query("UPDATE ac SET used = ? WHERE key = ?", (time.time_ns(), key))
        return result

    def put_action_result(self, ref: ActionRef, result: ActionResult) -> None:
        """Record the key's result; call only once every blob it names is in the CAS."""
        value = json.dumps(result.to_json(), separators=(",", ":"))
        self._query("INSERT OR REPLACE INTO ac (key, outputs, used) VALUES (?, ?, ?)", (ref.key, value, time.time_ns()))

    def drop_action_result(self, ref: ActionRef) -> None:
        self._query("DELETE FROM ac WHERE key = ?", (ref.key,))

    # -- content-addressed blobs ----------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.cas_path(digest).is_file()

    def put_blob(self, path: Path) -> OutputFile:
        """Add a file to the CAS (hard-linked when possible) and return its entry."""
        st = os.stat(path)
        digest = sha256_file(path)
        executable = bool(st.st_mode & stat.S_IXUSR)
        dest = self.cas_path(digest)
        os.chmod(path, 0o555 if executable else 0o444)  # blobs are read-only (the link shares the inode)
        self._shard(dest)
        try:
            os.link(path, dest)  # atomic: the name appears with its whole content, or not at all
        except FileExistsError:
            pass
        except OSError:  # another file system: copy beside the blob, then rename
            if not dest.exists():
                tmp = dest.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
                try:
                    link_or_copy(path, tmp)
                    os.replace(tmp, dest)
                finally:
                    if tmp.exists():
                        tmp.unlink()
        return OutputFile(digest, st.st_size, executable)

    def drop_blob(self, digest: str) -> None:
        p = self.cas_path(digest)
        try:
            os.chmod(p, 0o600)
            p.unlink()
        except FileNotFoundError:
            pass

    def get_blob(self, blob: OutputFile, dest: Path) -> None:
        """Place a blob at `dest` (hard link, else copy)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() or dest.is_symlink():
            dest.unlink()
        link_or_copy(self.cas_path(blob.digest), dest)
