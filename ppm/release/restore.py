"""Bring back a lost local release repository from where it is published.

Installed copies trust the root chain and the version counters of the published metadata: a
release signed on a fresh chain (a new root, or timestamp version 1 again) is refused by every one
of them. So when the local repository is gone (a fresh CI runner, a wiped disk), the metadata
chain is fetched from `[release] url` and verified the way a client verifies it (tuf.ngclient,
from 1.root.json up), then written back in the repository's own layout. Which chain to trust:
the first root must name the root keys we hold (when the root key directory is at hand), and the
newest root must name the online keys we are about to sign with, or nothing is restored.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_bytes
from ppm.release.config import parse_version
from ppm.release.tufrepo import ROLES, TufRepository

_MAX_METADATA = 16 << 20  # bigger than any sane root/targets file; bounds what a hostile server can make us hold
_MAX_ROOTS = 1024


class RestoreError(PpmError):
    """The published repository cannot be fetched or is not ours."""


def _get(url: str) -> bytes | None:
    """The body at `url`, or None on 404."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # http(s) URLs from [release] url only
            data = r.read(_MAX_METADATA + 1)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise RestoreError(f"{url}: HTTP {e.code}", hint="check [release] url in ppm.toml") from None
    except FileNotFoundError:
        return None
    except (urllib.error.URLError, OSError) as e:
        raise RestoreError(f"cannot fetch {url}: {getattr(e, 'reason', e)}", hint="check [release] url in ppm.toml") from None
    if len(data) > _MAX_METADATA:
        raise RestoreError(f"{url} is larger than {_MAX_METADATA >> 20} MiB: not update metadata")
    return data


def _held_keyids(*dirs: Path) -> set[str]:
    return {p.stem for d in dirs if d.is_dir() for p in d.glob("*.pem")}


def restore(repo: TufRepository, url: str, *, root_key_dir: Path, online_key_dir: Path,
            versions_wanted: int = 3) -> list[str]:
    """Fetch, verify and write back the metadata published at `url`, and the files of the newest
    `versions_wanted` versions of each target (patches are made from them). Returns what was restored."""
    # tuf: heavy, only when a repository is restored
    from tuf.api.metadata import Metadata, Targets
    from tuf.ngclient import Updater

    base = url.rstrip("/") + "/"
    first = _get(base + "metadata/1.root.json")
    if first is None:
        raise RestoreError(f"nothing is published at {base}metadata/1.root.json",
                           hint="check [release] url; for a project that never released, run `ppm keys init`")
    try:
        root1 = Metadata.from_bytes(first).signed
    except Exception as e:
        raise RestoreError(f"{base}metadata/1.root.json is not TUF root metadata: {e}") from None
    held_root = _held_keyids(root_key_dir)
    if held_root and not set(root1.roles["root"].keyids) & held_root:
        raise RestoreError(f"the repository published at {base} was not created with the root keys in {root_key_dir}",
                           hint="point [release] url at this project's repository, or --root-key-dir at its root keys")
    with tempfile.TemporaryDirectory(prefix="ppm-restore-") as tmp:
        meta = Path(tmp) / "metadata"
        meta.mkdir()
        upd = Updater(str(meta), base + "metadata/", str(Path(tmp)), base + "targets/", bootstrap=first)
        try:
            upd.refresh()
        except Exception as e:
            raise RestoreError(f"the metadata published at {base} does not verify ({type(e).__name__}: {e})",
                               hint="nothing was restored; re-publish the last good repository directory there") from None
        roots: list[bytes] = [first]
        newest = json.loads((meta / "root.json").read_bytes())["signed"]["version"]
        for v in range(2, min(newest, _MAX_ROOTS) + 1):
            data = _get(f"{base}metadata/{v}.root.json")
            if data is None:
                raise RestoreError(f"{base}metadata/{v}.root.json disappeared while restoring")
            roots.append(data)
        if roots[-1] != (meta / "root.json").read_bytes():
            raise RestoreError(f"{base}metadata/{newest}.root.json changed while restoring; try again")
        root = Metadata.from_bytes(roots[-1]).signed
        held_online = _held_keyids(online_key_dir)
        for role in ROLES[1:]:
            if not set(root.roles[role].keyids) & held_online:
                raise RestoreError(f"the {role} keys of the repository published at {base} are not in {online_key_dir}",
                                   hint="set PPM_KEYS_DIR (or --keys-dir) to this repository's online keys")
        ts_raw = (meta / "timestamp.json").read_bytes()
        snap_raw = (meta / "snapshot.json").read_bytes()
        tg_raw = (meta / "targets.json").read_bytes()
        snap_v = Metadata.from_bytes(snap_raw).signed.version
        targets_md = Metadata[Targets].from_bytes(tg_raw)
        tg_v = targets_md.signed.version
        for i, data in enumerate(roots, 1):
            atomic_write_bytes(repo.metadata_dir / f"{i}.root.json", data, fsync=True)
        atomic_write_bytes(repo.metadata_dir / f"{tg_v}.targets.json", tg_raw, fsync=True)
        atomic_write_bytes(repo.metadata_dir / f"{snap_v}.snapshot.json", snap_raw, fsync=True)
        atomic_write_bytes(repo.metadata_dir / "root.json", roots[-1], fsync=True)
        atomic_write_bytes(repo.metadata_dir / "timestamp.json", ts_raw, fsync=True)  # last, as when publishing
        done = [f"metadata: root v1-v{newest}, targets v{tg_v}, snapshot v{snap_v}"]
        done += _restore_files(repo, upd, targets_md.signed.targets, versions_wanted)
    return done


def _restore_files(repo: TufRepository, upd: Any, targets: dict[str, Any], versions_wanted: int) -> list[str]:
    """Download (hash-checked by ngclient) the files of the versions a channel points at, and of the
    newest `versions_wanted` of each target, into the repository's content-addressed layout."""
    by_target: dict[str, set[str]] = {}
    pointed: set[tuple[str, str]] = set()
    for tf in targets.values():
        meta = (tf.custom or {}).get("ppm", {}) if isinstance(tf.custom, dict) else {}
        t, v = meta.get("target"), meta.get("version")
        if isinstance(t, str) and isinstance(v, str):
            by_target.setdefault(t, set()).add(v)
            if meta.get("kind") in ("latest", "channel"):
                pointed.add((t, v))
                pointed.update((t, fv) for fv in meta.get("fallback_versions", []) if isinstance(fv, str))
    keep: set[tuple[str, str]] = set(pointed)
    for t, vs in by_target.items():
        keep.update((t, v) for v in sorted(vs, key=parse_version)[-versions_wanted:])
    n = 0
    for path, tf in targets.items():
        meta = (tf.custom or {}).get("ppm", {}) if isinstance(tf.custom, dict) else {}
        if (meta.get("target"), meta.get("version")) not in keep and meta.get("kind") not in ("latest", "channel"):
            continue
        dest = repo.file_path(path, tf)
        if dest.is_file():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        upd.download_target(tf, str(dest))
        n += 1
    return [f"{n} target file(s) of {len(keep)} target version(s)"]
