"""The content-addressed store and the action cache.

  store/cas/<ab>/<sha256>      output files, read-only, named by their content's digest
  store/ac/<ab>/<key>.json     action key -> {outputs: {relpath: [digest, size, executable]}}

An action-cache entry is written only after every output it names is in the CAS, so a build
killed at any moment leaves entries that are complete or absent. Entries are verified when
taken: a CAS file whose content no longer matches its name is dropped with the entry, and the
action reruns.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ppm.fsutil import atomic_write_text, link_or_copy, sha256_file


@dataclass(frozen=True)
class OutputFile:
    digest: str
    size: int
    executable: bool

    def to_json(self) -> list:
        return [self.digest, self.size, self.executable]

    @classmethod
    def from_json(cls, v: list) -> "OutputFile":
        return cls(str(v[0]), int(v[1]), bool(v[2]))


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cas = root / "cas"
        self.ac = root / "ac"

    def cas_path(self, digest: str) -> Path:
        return self.cas / digest[:2] / digest

    def _ac_path(self, key: str) -> Path:
        return self.ac / key[:2] / f"{key}.json"

    # -- action cache -------------------------------------------------------------------
    def get_action(self, key: str) -> dict[str, OutputFile] | None:
        """The outputs recorded for `key`, if the entry exists and every blob is present."""
        try:
            data = json.loads(self._ac_path(key).read_text())
            outputs = {rel: OutputFile.from_json(v) for rel, v in data["outputs"].items()}
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, IndexError):
            self.drop_action(key)  # unreadable entry: treat as a miss, never as a hit
            return None
        for o in outputs.values():
            if not self.cas_path(o.digest).is_file():
                self.drop_action(key)
                return None
        return outputs

    def put_action(self, key: str, outputs: dict[str, OutputFile], meta: dict | None = None) -> None:
        doc = {"outputs": {rel: o.to_json() for rel, o in sorted(outputs.items())}}
        if meta:
            doc["meta"] = meta
        atomic_write_text(self._ac_path(key), json.dumps(doc, sort_keys=True))

    def drop_action(self, key: str) -> None:
        try:
            self._ac_path(key).unlink()
        except FileNotFoundError:
            pass

    # -- content-addressed blobs ----------------------------------------------------------
    def put_file(self, path: Path) -> OutputFile:
        """Add a file to the CAS (hard-linked when possible) and return its entry."""
        st = path.stat()
        digest = sha256_file(path)
        dest = self.cas_path(digest)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{digest}.{os.getpid()}.{id(path)}.tmp")
            try:
                link_or_copy(path, tmp)
                os.chmod(tmp, 0o555 if st.st_mode & stat.S_IXUSR else 0o444)
                os.replace(tmp, dest)
            finally:
                if tmp.exists():
                    tmp.unlink()
        return OutputFile(digest, st.st_size, bool(st.st_mode & stat.S_IXUSR))

    def verify(self, o: OutputFile) -> bool:
        """Whether the blob's content still matches its digest; a corrupt blob is removed."""
        p = self.cas_path(o.digest)
        try:
            ok = p.stat().st_size == o.size and sha256_file(p) == o.digest
        except FileNotFoundError:
            return False
        if not ok:
            try:
                os.chmod(p, 0o600)
                p.unlink()
            except FileNotFoundError:
                pass
        return ok

    def materialize(self, o: OutputFile, dest: Path) -> None:
        """Place a blob at `dest` (hard link, else copy)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() or dest.is_symlink():
            dest.unlink()
        link_or_copy(self.cas_path(o.digest), dest)
