"""The update client: what a host app imports, and what `ppm update` runs.

    from ppm.update import client as update
    info = update.check("https://updates.example.com/", "/opt/app/app", root_json="/opt/app/root.json")
    if info:
        update.apply(info)          # verified, atomic; rolls back itself if --self-check fails
    update.rollback("/opt/app/app") # restore the version before the last update

Metadata is refreshed the TUF way (`tuf.ngclient`): the trusted root, timestamp, snapshot and
targets are stored beside the installed file, in `.<name>.ppm-update/metadata/`, bootstrapped once
from the root.json shipped with the app. Every download is checked for length and hash by ngclient
before we decode it; the decoder's memory need (signed) is checked before downloading; the result's
hash is checked before it is installed. Installing is: write beside the installed file, fsync,
keep a hard link to the previous version, write a journal, rename atomically. A journal left by a
killed process is finished or undone by the next call (`recover`), so the installed path always
holds the old or the new version, never neither.

Test hook: PPM_UPDATE_CRASH_AT=<step> makes the process os._exit(87) at that step (downloaded,
decode, decoded, before-rename, after-rename) — tests kill the process at every step this way.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_text, rmtree, sha256_file
from ppm.delta import PatchError, apply_patch, default_memory_budget
from ppm.targets import host
from ppm.update import rollout as ro

CRASH_ENV = "PPM_UPDATE_CRASH_AT"
CRASH_STEPS = ("downloaded", "decode", "decoded", "before-rename", "after-rename")
SELF_CHECK_TIMEOUT = 60.0
_CHUNK = 1 << 20


class UpdateError(PpmError):
    """An update cannot be checked for, downloaded, verified or installed. Nothing was changed
    unless the message says so."""


class SelfCheckFailed(UpdateError):
    """The new version failed `--self-check` on first start; the previous version was restored."""


def _crash_point(step: str) -> None:
    if os.environ.get(CRASH_ENV) == step:
        os._exit(87)


# ------------------------------------------------------------------------------------- state


def state_dir_for(install_path: Path) -> Path:
    install_path = Path(install_path)
    return install_path.parent / f".{install_path.name}.ppm-update"


@dataclass
class _State:
    """What `state.json` remembers: the installed and previous versions, and versions rejected by
    a rollback (not offered again)."""

    dir: Path
    version: str | None = None
    sha256: str | None = None
    previous: dict[str, str | None] | None = None
    rejected: list[str] = field(default_factory=list)
    channel: str | None = None  # the channel this install follows (set by `ppm update --channel`)
    # The highest version each channel's signed document has named: a channel never moves back.
    channels_seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, d: Path) -> _State:
        try:
            data = json.loads((d / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return cls(d)
        seen = data.get("channels_seen")
        return cls(d, data.get("version"), data.get("sha256"), data.get("previous"), list(data.get("rejected", [])),
                   data.get("channel"), dict(seen) if isinstance(seen, dict) else {})

    def save(self) -> None:
        atomic_write_text(self.dir / "state.json", json.dumps(
            {"version": self.version, "sha256": self.sha256, "previous": self.previous, "rejected": self.rejected,
             "channel": self.channel, "channels_seen": self.channels_seen},
            indent=2) + "\n", fsync=True)

    @property
    def previous_file(self) -> Path:
        return self.dir / "previous"

    @property
    def pending_previous(self) -> Path:
        """The version being replaced, kept during an update; becomes `previous` once the new one is confirmed."""
        return self.dir / "previous.pending"

    @property
    def journal(self) -> Path:
        return self.dir / "journal.json"

    @property
    def staging(self) -> Path:
        return self.dir / "staging"


def _sha256(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error(e: OSError, where: Path) -> UpdateError:
    if e.errno == errno.ENOSPC:
        return UpdateError(f"no space left on the device holding {where}: the update was not installed, nothing changed",
                           hint="free some space and run the update again")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        return UpdateError(f"cannot write beside {where} ({e.strerror}): the update was not installed, nothing changed",
                           hint="run the update as a user who can write to that directory, or mount it read-write")
    return UpdateError(f"{where}: {e.strerror or e}")


def _writable_state(install_path: Path, state_dir: Path | None) -> _State:
    """The state directory, created if needed; a clear error (and no change) when the install
    directory cannot be written: an update could not be installed there anyway."""
    d = state_dir or state_dir_for(install_path)
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = install_path.parent / f".{install_path.name}.ppm-probe-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise _os_error(e, install_path.parent) from e
    return _State.load(d)


def _clean_staging(st: _State) -> None:
    rmtree(st.staging)


def _restore_previous(install_path: Path, src: Path) -> None:
    """Atomically put the kept version `src` back at install_path."""
    tmp = install_path.parent / f".{install_path.name}.ppm-restore"
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, install_path)
    _fsync_dir(install_path.parent)


def recover(install_path: str | os.PathLike[str], *, state_dir: Path | None = None, self_check: bool = True) -> str | None:
    """Finish or undo an update a killed process left half done. Returns what was done, if anything."""
    install_path = Path(install_path)
    st = _State.load(state_dir or state_dir_for(install_path))
    if not st.journal.exists():
        if st.staging.exists():
            _clean_staging(st)
        return None
    j = json.loads(st.journal.read_text())
    cur = _sha256(install_path)
    done: str
    if cur is not None and cur == j["to"]["sha256"]:
        # Renamed but not confirmed: confirm now (first start of the new version).
        if self_check and not _self_check_ok(install_path):
            _restore_previous(install_path, st.pending_previous)
            st.version, st.sha256 = j["from"]["version"], j["from"]["sha256"]
            st.rejected.append(j["to"]["version"])
            done = f"rolled back to {j['from']['version']}: {j['to']['version']} failed its self-check"
        else:
            if st.pending_previous.exists():
                os.replace(st.pending_previous, st.previous_file)
            st.version, st.sha256, st.previous = j["to"]["version"], j["to"]["sha256"], j["from"]
            done = f"finished the update to {j['to']['version']}"
    else:
        if (cur is None or cur != j["from"]["sha256"]) and st.pending_previous.exists():
            # Cannot happen with an atomic rename, but never leave the path empty or unknown.
            _restore_previous(install_path, st.pending_previous)
        done = f"undid the interrupted update to {j['to']['version']}"
    st.save()
    st.pending_previous.unlink(missing_ok=True)
    st.journal.unlink()
    _clean_staging(st)
    return done


def _recover_or_explain(install_path: Path, state_dir: Path | None) -> None:
    try:
        recover(install_path, state_dir=state_dir)
    except OSError as e:
        raise _os_error(e, install_path.parent) from e


# ------------------------------------------------------------------------------------- check


@dataclass
class Candidate:
    kind: str  # "patch" | "compressed" | "bundle"
    target_path: str
    length: int
    decoder_memory: int
    targetinfo: Any = field(repr=False, default=None)


@dataclass
class UpdateInfo:
    repo_url: str
    install_path: Path
    target: str
    current_version: str | None
    current_sha256: str | None
    version: str
    sha256: str
    length: int
    candidates: list[Candidate]
    skipped: list[str] = field(default_factory=list)  # why a cheaper way was not offered
    _updater: Any = field(repr=False, default=None)
    _state_dir: Path | None = field(repr=False, default=None)

    @property
    def method(self) -> str:
        return self.candidates[0].kind

    @property
    def download_size(self) -> int:
        return self.candidates[0].length

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "current_version": self.current_version, "version": self.version,
                "sha256": self.sha256, "length": self.length, "method": self.method,
                "download_size": self.download_size, "skipped": self.skipped,
                "candidates": [{"kind": c.kind, "path": c.target_path, "length": c.length,
                                "decoder_memory": c.decoder_memory} for c in self.candidates]}


def _version_key(v: str) -> Any:
    # packaging: heavy, only when versions are compared
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(v))
    except InvalidVersion:
        return (0, v)


def _updater(repo_url: str, st: _State, root_json: Path | None) -> Any:
    from tuf.ngclient import Updater  # tuf: heavy, only when the repository is read

    meta = st.dir / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    bootstrap = None
    if not (meta / "root.json").is_file():
        if root_json is None or not Path(root_json).is_file():
            raise UpdateError("no trusted root for this install yet",
                              hint="pass the root.json shipped with the app (--root FILE, or root_json=)")
        bootstrap = Path(root_json).read_bytes()
    base = repo_url.rstrip("/") + "/"
    try:
        return Updater(str(meta), base + "metadata/", str(st.staging), base + "targets/", bootstrap=bootstrap)
    except Exception as e:
        raise UpdateError(f"the trusted root is unusable: {e}") from e


def _unreachable(e: BaseException) -> str | None:
    """Why the server could not be reached at all (refused, unknown host, TLS...), or None when
    bytes did arrive: then the error is about what was sent, and says so."""
    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, OSError) and x.strerror:
            return x.strerror
        reason = getattr(x, "reason", None)  # urllib3's MaxRetryError
        if isinstance(reason, BaseException):
            if isinstance(reason, OSError) and reason.strerror:
                return reason.strerror
            x = reason
            continue
        if type(x).__name__ in ("NewConnectionError", "NameResolutionError", "SSLError", "ProtocolError"):
            return str(x).split(": ", 1)[-1] or type(x).__name__
        x = x.__cause__ or x.__context__
    return None


def _refused(e: Exception, repo_url: str | None = None) -> UpdateError:
    from tuf.api import exceptions as tufx  # tuf: heavy, only when an update fails

    at = f" at {repo_url}" if repo_url else ""
    if isinstance(e, tufx.DownloadHTTPError):
        return UpdateError(f"the update repository{at} answered HTTP {e.status_code} ({e})",
                           hint="check --repo: the URL of the directory that holds metadata/ and targets/; nothing was changed")
    if isinstance(e, tufx.DownloadError) and not isinstance(e, tufx.DownloadLengthMismatchError):
        why = _unreachable(e)
        if why is not None:
            return UpdateError(f"cannot reach the update repository{at}: {why}",
                               hint="is the server running and --repo right? nothing was changed")
    return UpdateError(f"update metadata refused ({type(e).__name__}): {e}",
                       hint="the repository may be under attack or misconfigured; nothing was changed")


def check(repo_url: str, install_path: str | os.PathLike[str], current_version: str | None = None, *,
          root_json: str | os.PathLike[str] | None = None, target: str | None = None,
          state_dir: Path | None = None, max_memory: int | None = None, channel: str | None = None) -> UpdateInfo | None:
    """Refresh the signed metadata and say whether a newer version exists for this install, and
    how it would be fetched (cheapest first). None when up to date. `channel` switches the channel
    this install follows (remembered); a staged rollout admits it by its install id."""
    from tuf.api import exceptions as tufx  # tuf: heavy, only when updates are checked

    install_path = Path(install_path)
    _recover_or_explain(install_path, state_dir)
    if not install_path.is_file():
        # a mistyped path must not turn into a fresh 100 MB install beside the real one
        raise UpdateError(f"{install_path} does not exist or is not a file: nothing to update",
                          hint="point --install at the installed executable (install the first version by copying the released bundle)")
    st = _writable_state(install_path, state_dir)
    if target is None:
        target = host().name
    if max_memory is None:
        max_memory = default_memory_budget()

    followed = channel or st.channel or ro.STABLE
    if not ro.valid_channel(followed):
        raise UpdateError(f"channel {followed!r} is not a channel name", hint="for example --channel beta")
    upd = _updater(repo_url, st, Path(root_json) if root_json else None)
    docs: dict[str, dict[str, Any]] = {}
    try:
        upd.refresh()
        st.staging.mkdir(parents=True, exist_ok=True)
        # A channel other than stable also offers stable's releases when they are newer.
        for ch in dict.fromkeys([followed, ro.STABLE]):
            tf = upd.get_targetinfo(ro.channel_path(target, ch))
            if tf is None:
                if ch == followed:
                    raise UpdateError(f"the update repository has no release for {target}"
                                      + ("" if ch == ro.STABLE else f" on the {ch} channel"))
                continue
            docs[ch] = json.loads(Path(upd.download_target(tf, str(st.staging / f"channel-{ch}.json"))).read_bytes())
    except (tufx.RepositoryError, tufx.DownloadError) as e:
        raise _refused(e, repo_url) from e
    except OSError as e:
        raise _os_error(e, st.dir) from e
    except ValueError as e:
        raise UpdateError(f"the repository's channel document is malformed: {e}") from e
    finally:
        _clean_staging(st)
    iid = ro.install_id(st.dir)
    offers: list[dict[str, Any]] = []
    not_admitted: list[str] = []
    for ch, doc in docs.items():
        v = doc.get("version") if isinstance(doc, dict) else None
        if not isinstance(v, str) or doc.get("target") != target or doc.get("channel", ro.STABLE) != ch:
            raise UpdateError(f"the signed {ch} channel document for {target} does not describe {target} on {ch}")
        seen = st.channels_seen.get(ch)
        if seen is not None and _version_key(v) < _version_key(seen):
            raise UpdateError(f"channel rollback refused: the signed {ch} channel for {target} now offers {v}, "
                              f"but it already offered {seen} to this install",
                              hint="the repository may be under attack or a release was reverted; nothing was changed")
        st.channels_seen[ch] = v
        try:
            pct = float(doc.get("rollout", 100))
        except (TypeError, ValueError):
            raise UpdateError(f"the signed {ch} channel document for {target} has no valid rollout") from None
        if ro.admitted(iid, target, ch, v, pct):
            offers.append(doc)
        else:
            not_admitted.append(f"{v} on {ch} is rolled out to {pct:g}% of installs, not yet this one")
            if isinstance(doc.get("fallback"), dict):
                offers.append({**doc["fallback"], "target": target})
    if channel is not None:
        st.channel = channel
    st.save()
    if not offers:
        return None
    latest = max(offers, key=lambda d: _version_key(d["version"]))
    if latest.get("target") != target:
        raise UpdateError(f"latest.json for {target} names target {latest.get('target')!r}")
    cur_sha = _sha256(install_path)
    if current_version is None:
        if cur_sha and cur_sha == st.sha256:
            current_version = st.version
        elif cur_sha and st.previous and cur_sha == st.previous.get("sha256"):
            current_version = st.previous.get("version")
    if current_version is None and cur_sha:
        # Not installed by ppm (copied by hand, shipped in an archive): the signed patch metadata
        # names the exact file each patch applies to, so a matching hash says which version this is.
        for from_v, path in sorted((latest.get("patches") or {}).items()):
            try:
                tf = upd.get_targetinfo(path)
            except (tufx.RepositoryError, tufx.DownloadError) as e:
                raise _refused(e, repo_url) from e
            meta = (tf.custom or {}).get("ppm", {}) if tf is not None else {}
            if meta.get("kind") == "patch" and meta.get("from_version") == from_v and meta.get("old_sha256") == cur_sha:
                current_version = from_v
                break
    new_v, sha, length = latest["version"], latest["sha256"], int(latest["length"])
    if cur_sha == sha:
        return None
    if current_version is not None and _version_key(new_v) <= _version_key(current_version):
        return None
    if new_v in st.rejected:
        return None

    info = UpdateInfo(repo_url, install_path, target, current_version, cur_sha, new_v, sha, length, [],
                      skipped=list(not_admitted), _updater=upd, _state_dir=st.dir)

    def lookup(path: str, kind: str) -> tuple[Any, dict[str, Any]] | None:
        try:
            tf = upd.get_targetinfo(path)
        except (tufx.RepositoryError, tufx.DownloadError) as e:
            raise _refused(e, repo_url) from e
        if tf is None:
            info.skipped.append(f"{kind} {path}: not in the signed targets")
            return None
        meta = (tf.custom or {}).get("ppm", {})
        if meta.get("version") != new_v or meta.get("target") != target or meta.get("kind") != kind:
            raise UpdateError(f"signed metadata for {path} does not describe {target} {new_v} ({kind})")
        return tf, meta

    if current_version is not None and current_version in latest.get("patches", {}):
        found = lookup(latest["patches"][current_version], "patch")
        if found:
            tf, meta = found
            if meta.get("from_version") != current_version or meta.get("old_sha256") != cur_sha:
                info.skipped.append(f"patch from {current_version}: the installed file is not the one it applies to")
            elif int(meta.get("decoder_memory", 0)) > max_memory:
                info.skipped.append(f"patch from {current_version}: needs {int(meta['decoder_memory']) >> 20} MiB "
                                    f"to decode, more than the {max_memory >> 20} MiB allowed")
            elif meta.get("sha256") != sha:
                raise UpdateError(f"signed metadata for {tf.path} and latest.json disagree on the result")
            else:
                info.candidates.append(Candidate("patch", tf.path, tf.length, int(meta["decoder_memory"]), tf))
    if latest.get("compressed"):
        found = lookup(latest["compressed"], "compressed")
        if found:
            tf, meta = found
            if meta.get("sha256") != sha:
                raise UpdateError(f"signed metadata for {tf.path} and latest.json disagree on the result")
            if int(meta.get("decoder_memory", 0)) > max_memory:
                info.skipped.append(f"compressed bundle: needs {int(meta['decoder_memory']) >> 20} MiB to decode")
            else:
                info.candidates.append(Candidate("compressed", tf.path, tf.length, int(meta["decoder_memory"]), tf))
    found = lookup(latest["bundle"], "bundle")
    if found:
        tf, _ = found
        if tf.hashes.get("sha256") != sha or tf.length != length:
            raise UpdateError(f"signed metadata for {tf.path} and latest.json disagree on the bundle")
        info.candidates.append(Candidate("bundle", tf.path, tf.length, 0, tf))
    if not info.candidates:
        raise UpdateError(f"version {new_v} is published but no file for it can be used here: {'; '.join(info.skipped)}")
    return info


# ------------------------------------------------------------------------------------- apply


@dataclass
class UpdateResult:
    version: str
    previous_version: str | None
    method: str
    downloaded: int
    seconds: float
    fallbacks: list[str] = field(default_factory=list)  # cheaper ways that failed, and why

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _decompress(src: Path, out: Path, max_memory: int) -> None:
    import zstandard  # zstandard: heavy, only when a compressed download is decoded

    dctx = zstandard.ZstdDecompressor(max_window_size=min(max_memory, 1 << 31))
    with open(src, "rb") as fi, open(out, "wb") as fo:
        reader = dctx.stream_reader(fi)
        first = True
        while chunk := reader.read(_CHUNK):
            fo.write(chunk)
            if first:
                fo.flush()
                _crash_point("decode")
                first = False
        fo.flush()
        os.fsync(fo.fileno())


def _fetch_and_decode(info: UpdateInfo, c: Candidate, st: _State, new: Path, max_memory: int) -> None:
    """Download one candidate (length and hash checked by ngclient) and turn it into `new`."""
    dl = st.staging / f"download.{c.kind}"
    info._updater.download_target(c.targetinfo, str(dl))
    _crash_point("downloaded")
    if c.kind == "patch":
        _crash_point("decode")
        apply_patch(info.install_path, dl, new, max_memory=max_memory)
    elif c.kind == "compressed":
        _decompress(dl, new, max_memory)
    else:
        os.replace(dl, new)
    _crash_point("decoded")
    if new.stat().st_size != info.length or _sha256(new) != info.sha256:
        raise UpdateError(f"the {c.kind} download did not produce the signed file (sha256 {info.sha256})")


def _self_check_ok(path: Path) -> bool:
    try:
        p = subprocess.run([str(path), "--self-check"], capture_output=True, timeout=SELF_CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def apply(info: UpdateInfo, *, self_check: bool = True, max_memory: int | None = None) -> UpdateResult:
    """Download, verify and install `info` (from check()). Tries the cheapest way first and falls
    back to the next (patch → compressed → full bundle) when a download or decode fails. Raises
    UpdateError with nothing changed when no way works, SelfCheckFailed after restoring the old
    version when the new one fails `--self-check`."""
    from tuf.api import exceptions as tufx  # tuf: heavy, only when an update is applied

    t0 = time.time()
    install_path = info.install_path
    st = _writable_state(install_path, info._state_dir)
    if max_memory is None:
        max_memory = default_memory_budget()
    if st.journal.exists():
        raise UpdateError("another update of this install is in progress (or was interrupted)",
                          hint="run the update again: it finishes or undoes the interrupted one first")
    if _sha256(install_path) != info.current_sha256:
        raise UpdateError(f"{install_path} changed since the update was checked", hint="check again")
    _clean_staging(st)
    new = st.staging / "new"
    fallbacks: list[str] = []
    chosen: Candidate | None = None
    try:
        st.staging.mkdir(parents=True, exist_ok=True)
        for c in info.candidates:
            try:
                _fetch_and_decode(info, c, st, new, max_memory)
                chosen = c
                break
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM):
                    raise _os_error(e, install_path.parent) from e
                fallbacks.append(f"{c.kind}: {e}")
            except (tufx.RepositoryError, tufx.DownloadError, PatchError, UpdateError, ValueError) as e:
                fallbacks.append(f"{c.kind}: {type(e).__name__}: {e}")
            except Exception as e:  # zstandard.ZstdError and friends: a corrupt download
                fallbacks.append(f"{c.kind}: {type(e).__name__}: {e}")
            for p in st.staging.iterdir():
                p.unlink()
        if chosen is None:
            raise UpdateError(f"could not get a verified copy of {info.version}: " + "; ".join(fallbacks),
                              hint="nothing was changed; try again later")
        mode = install_path.stat().st_mode & 0o7777 if install_path.exists() else 0o755
        os.chmod(new, mode | 0o100)
        with open(new, "rb") as f:
            os.fsync(f.fileno())
        # Keep the previous version: a hard link costs no space and survives the rename.
        st.pending_previous.unlink(missing_ok=True)
        if install_path.exists():
            try:
                os.link(install_path, st.pending_previous)
            except OSError:
                shutil.copy2(install_path, st.pending_previous)
        atomic_write_text(st.journal, json.dumps({
            "from": {"version": info.current_version, "sha256": info.current_sha256},
            "to": {"version": info.version, "sha256": info.sha256}}) + "\n", fsync=True)
        _fsync_dir(st.dir)
    except OSError as e:
        _clean_staging(st)
        raise _os_error(e, install_path.parent) from e
    except BaseException:
        _clean_staging(st)
        raise
    _crash_point("before-rename")
    os.replace(new, install_path)
    _fsync_dir(install_path.parent)
    _crash_point("after-rename")
    previous = {"version": info.current_version, "sha256": info.current_sha256}
    if self_check and not _self_check_ok(install_path):
        _restore_previous(install_path, st.pending_previous)
        st.version, st.sha256 = info.current_version, info.current_sha256
        st.rejected.append(info.version)
        st.save()
        st.pending_previous.unlink(missing_ok=True)
        st.journal.unlink()
        _clean_staging(st)
        raise SelfCheckFailed(f"{info.version} failed its --self-check on first start; restored {info.current_version or 'the previous version'}",
                              hint="the version is skipped until a newer one is published")
    if st.pending_previous.exists():
        os.replace(st.pending_previous, st.previous_file)
    st.version, st.sha256, st.previous = info.version, info.sha256, previous
    st.save()
    st.journal.unlink()
    _clean_staging(st)
    return UpdateResult(info.version, info.current_version, chosen.kind, chosen.length,
                        round(time.time() - t0, 3), fallbacks)


def update(repo_url: str, install_path: str | os.PathLike[str], current_version: str | None = None, *,
           root_json: str | os.PathLike[str] | None = None, target: str | None = None,
           self_check: bool = True, max_memory: int | None = None, channel: str | None = None) -> UpdateResult | None:
    """check() then apply(): None when already up to date."""
    info = check(repo_url, install_path, current_version, root_json=root_json, target=target, max_memory=max_memory,
                 channel=channel)
    return None if info is None else apply(info, self_check=self_check, max_memory=max_memory)


def rejected_versions(install_path: str | os.PathLike[str], *, state_dir: Path | None = None) -> list[str]:
    """Versions a rollback turned away from this install: check() does not offer them again."""
    return list(_State.load(state_dir or state_dir_for(Path(install_path))).rejected)


def allow(install_path: str | os.PathLike[str], version: str, *, state_dir: Path | None = None) -> bool:
    """Offer `version` again although a rollback or a failed self-check turned it away here.
    Returns whether it had been turned away."""
    install_path = Path(install_path)
    st = _writable_state(install_path, state_dir)
    if version not in st.rejected:
        return False
    st.rejected = [v for v in st.rejected if v != version]
    st.save()
    return True


def rollback(install_path: str | os.PathLike[str], *, state_dir: Path | None = None) -> str:
    """Restore the version installed before the last update; returns its version (or its sha256)."""
    install_path = Path(install_path)
    _recover_or_explain(install_path, state_dir)
    st = _writable_state(install_path, state_dir)
    if not st.previous_file.is_file() or not st.previous:
        raise UpdateError(f"no previous version of {install_path} is kept", hint="rollback works once, after an update")
    prev_sha = _sha256(st.previous_file)
    if prev_sha != st.previous.get("sha256") and st.previous.get("sha256"):
        raise UpdateError(f"the kept previous version of {install_path} is damaged (sha256 mismatch); nothing changed")
    bad = st.version
    try:
        _restore_previous(install_path, st.previous_file)
    except OSError as e:
        raise _os_error(e, install_path.parent) from e
    restored = st.previous.get("version") or prev_sha or "?"
    st.version, st.sha256 = st.previous.get("version"), prev_sha
    st.previous = None
    if bad:
        st.rejected.append(bad)
    st.save()
    st.previous_file.unlink()
    return restored
