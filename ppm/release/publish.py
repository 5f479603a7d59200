"""`ppm release`: publish a version's bundles, zstd-compressed copies, patches from earlier
versions, and signed update metadata.

    dist/releases/<version>/<target>/<bundle>                 the executable
    dist/releases/<version>/<target>/<bundle>.zst             the same, zstd -19, when that saves enough
    dist/releases/<version>/<target>/<bundle>.from-<old>.patch   ppm.delta patches, only when clearly smaller
    dist/releases/<version>/<target>/report.json              sizes, ratios, times
    [release] repository (default: the user data dir)         the TUF repository (see ppm.release.tufrepo)

dist/releases/ is disposable; the repository is not: installed copies trust its root chain and
version counters, so it lives outside dist/ and is restored from `[release] url` when missing.
The zstd copy is published only when it saves at least `[release] compress-min-saving` (a
PyInstaller bundle is already compressed: zstd -19 spent most of a release saving 1%).

Target names in the signed metadata are `<target>/<version>/<file>` and `<target>/latest.json`
(which version is current, and which files make it). Each file's `custom.ppm` says what it is;
for a patch: from which version, the old file's sha256 and length, and the decoder's memory need,
so the client can choose before downloading anything.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ppm.build.run import build
from ppm.core import manifest
from ppm.core.fsutil import atomic_write_text, rmtree, sha256_file
from ppm.delta import PatchError, make_patch
from ppm.release import channels, config
from ppm.release.config import ReleaseError, parse_version
from ppm.release.keys import KeyDirs, default_key_dirs, online_signers
from ppm.release.restore import restore
from ppm.release.tufrepo import Expiry, TufRepository

DEFAULT_FROM = 3
# A patch is published only when at most this fraction of the compressed bundle: below that the
# saving is worth a second code path on the client; above it the full file is nearly as cheap.
DEFAULT_PATCH_RATIO = 0.8
ZSTD_LEVEL = 19
_ZSTD_DECODER_OVERHEAD = 16 << 20

Report = Callable[[str], None]


def releases_dir(root: Path) -> Path:
    """Per-version working output (reports, the files as made): disposable, like the rest of dist/."""
    return root / "dist" / "releases"


def repository_dir(root: Path) -> Path:
    """The TUF repository: where `[release] repository` says, never inside dist/ (see ppm.release.config)."""
    return config.load(root, manifest.load(root).name).repository


@dataclass
class PatchReport:
    from_version: str
    size: int
    ratio: float  # patch size / compressed bundle size
    seconds: float
    method: str
    decoder_memory: int
    published: bool
    reason: str = ""
    file: str | None = None


@dataclass
class TargetReport:
    target: str
    bundle: str
    size: int
    sha256: str
    compressed_size: int
    compress_seconds: float
    compressed: bool = True
    compress_note: str = ""
    patches: list[PatchReport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReleaseReport:
    project: str
    version: str
    repository: str
    targets_version: int = 0
    targets: dict[str, TargetReport] = field(default_factory=dict)
    seconds: float = 0.0
    channel: str = "stable"
    rollout: float = 100.0

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version, "repository": self.repository,
                "targets_version": self.targets_version, "seconds": round(self.seconds, 3),
                "channel": self.channel, "rollout": self.rollout,
                "targets": {t: r.to_json() for t, r in self.targets.items()}}


def published_versions(repo: TufRepository) -> dict[str, dict[str, tuple[str, Any]]]:
    """target -> version -> (target path, TargetFile) of every published full bundle."""
    out: dict[str, dict[str, tuple[str, Any]]] = {}
    if not repo.exists():
        return out
    for path, tf in repo.targets().signed.targets.items():
        meta = (tf.custom or {}).get("ppm", {}) if isinstance(tf.custom, dict) else {}
        if meta.get("kind") == "bundle":
            out.setdefault(meta["target"], {})[meta["version"]] = (path, tf)
    return out


def compress(src: Path, dest: Path) -> tuple[int, int]:
    """zstd -19 with long-distance matching and a window covering the whole file.
    Returns (compressed size, decoder memory need)."""
    # zstandard: heavy, only when a release compresses
    import zstandard

    size = src.stat().st_size
    params = zstandard.ZstdCompressionParameters.from_level(
        ZSTD_LEVEL, source_size=size, enable_ldm=True, write_checksum=True, threads=os.cpu_count() or 1)
    cctx = zstandard.ZstdCompressor(compression_params=params)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        cctx.copy_stream(fi, fo, size=size)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, dest)
    return dest.stat().st_size, (1 << params.window_log) + _ZSTD_DECODER_OVERHEAD


def compress_probe(src: Path) -> float:
    """The fraction a fast zstd pass (level 3) saves on `src`: a cheap forecast of whether the
    level-19 copy is worth its minutes. Already-compressed bundles save about the same at both."""
    # zstandard: heavy, only when a release compresses
    import zstandard

    size = src.stat().st_size
    if size == 0:
        return 0.0
    cctx = zstandard.ZstdCompressor(level=3, threads=os.cpu_count() or 1)
    out = 0
    with open(src, "rb") as fi:
        reader = cctx.stream_reader(fi, size=size)
        while chunk := reader.read(1 << 20):
            out += len(chunk)
    return 1 - out / size


def _signers_or_explain(repo: TufRepository, online: Path) -> Any:
    return online_signers(repo, online)


def open_repository(root: Path, *, project: str, keys_dir: Path | None = None, say: Report | None = None,
                    from_n: int = DEFAULT_FROM) -> TufRepository:
    """The release repository, restored from `[release] url` when the local copy is missing.
    Refuses (with how to restore it) rather than ever starting a new root."""
    cfg = config.load(root, project)
    repo = TufRepository(cfg.repository)
    if repo.exists():
        return repo
    root_dir, online_dir = default_key_dirs(project)
    online = Path(keys_dir) if keys_dir else online_dir
    if cfg.url:
        (say or (lambda _m: None))(f"no local repository at {repo.path}: restoring it from {cfg.url}")
        for line in restore(repo, cfg.url, root_key_dir=root_dir, online_key_dir=online, versions_wanted=max(from_n, 1)):
            (say or (lambda _m: None))(f"  restored {line}")
        return repo
    has_keys = any(d.is_dir() and any(d.glob("*.pem")) for d in (root_dir, online))
    where = "put the repository directory back there (from a backup, or a copy of what you publish), or point " \
            "[release] repository in ppm.toml at it; or set [release] url to where it is published and " \
            "`ppm release` restores it from there"
    if has_keys:
        raise ReleaseError(f"no release repository at {repo.path}, but this project has signing keys ({online}): "
                           "it has released before, and a new repository would strand every installed copy",
                           hint=where)
    raise ReleaseError(f"no release repository at {repo.path}",
                       hint=f"if this project has released before, {where}. Only for a first release: `ppm keys init`")


def newest_on_channel(repo: TufRepository, channel: str, every: set[str]) -> str | None:
    """The version a new release on `channel` must not go below: the channel's newest once it has
    one (a stable hotfix 1.1.1 may follow a beta 1.2.0), before that the newest of any channel."""
    on = [v for chs in channels.channels_of(repo.targets().signed.targets).values() for c, v in chs.items() if c == channel]
    return max(on or every, key=parse_version, default=None)


def release(root: Path, *, version: str | None = None, from_n: int = DEFAULT_FROM, force: bool = False,
            targets: list[str] | None = None, keys_dir: Path | None = None, expiry: Expiry | None = None,
            patch_ratio: float = DEFAULT_PATCH_RATIO, report: Report | None = None,
            bundles: dict[str, Path] | None = None, channel: str = "stable", rollout: float = 100.0,
            compress_min_saving: float | None = None) -> ReleaseReport:
    """Publish `version` (default: the manifest's) on `channel` to `rollout` percent of installs.
    `bundles` (target -> file) skips the build: bundles built elsewhere (`--collect`), and tests."""
    t0 = time.time()
    say = report or (lambda _m: None)
    expiry = expiry or Expiry()
    m = manifest.load(root)
    cfg = config.load(root, m.name)
    min_saving = cfg.compress_min_saving if compress_min_saving is None else compress_min_saving
    version = version or m.version
    new_v = parse_version(version)
    channels.check_channel(channel)
    rollout = channels.parse_rollout(rollout)
    root_dir, online_dir = default_key_dirs(m.name)
    dirs = KeyDirs(root_dir, Path(keys_dir) if keys_dir else online_dir)
    dirs.check_outside(root, cfg.repository)
    repo = open_repository(root, project=m.name, keys_dir=dirs.online, say=say, from_n=from_n)
    signers = _signers_or_explain(repo, dirs.online)  # fail before spending minutes building

    published = published_versions(repo)
    every = {v for vs in published.values() for v in vs}
    if version in every and not force:
        raise ReleaseError(f"version {version} is already published", hint="bump the version, or pass --force to replace it")
    newest = newest_on_channel(repo, channel, every)
    if newest is not None and new_v < parse_version(newest) and not force:
        raise ReleaseError(f"version {version} is lower than the newest published version {newest}",
                           hint="bump the version, or pass --force")

    if bundles is None:
        say("building…")
        summary = build(root, targets=targets, report=None)
        bundles = {t: Path(b["path"]) for t, b in summary.bundles.items()}
        if not bundles:
            raise ReleaseError("the build made no bundle to release", hint="set [project] entry in ppm.toml")

    rel = ReleaseReport(m.name, version, str(repo.path))
    add: dict[str, Any] = {}
    remove: list[str] = []
    current = repo.targets().signed.targets
    for target, bundle in sorted(bundles.items()):
        prefix = f"{target}/{version}/"
        remove += [p for p in current if p.startswith(prefix)]
        out_dir = releases_dir(root) / version / target
        if out_dir.exists():
            rmtree(out_dir)
        out_dir.mkdir(parents=True)
        name = bundle.name
        dest = out_dir / name
        # A copy, not a hard link: dist/<target>/ is the build's output, which users strip, sign or
        # overwrite in place; a link would change the published, signed file with it.
        shutil.copy2(bundle, dest)
        sha, size = sha256_file(dest), dest.stat().st_size
        base = {"target": target, "version": version}
        tc = time.time()
        saving = compress_probe(dest)
        zpath: str | None = None
        if saving >= min_saving:
            say(f"{target}: compressing {name} ({size / 1e6:.1f} MB)")
            zsize, zmem = compress(dest, out_dir / f"{name}.zst")
            zpath = prefix + name + ".zst"
            add[zpath] = repo.add_file(zpath, out_dir / f"{name}.zst", {"ppm": {
                **base, "kind": "compressed", "encoding": "zstd", "sha256": sha, "length": size, "decoder_memory": zmem}})
            note = ""
        else:
            zsize = size  # clients download the bundle itself
            note = f"zstd would save {saving:.1%}, under the {min_saving:.0%} threshold: no compressed copy"
            say(f"{target}: {note}")
        tr = TargetReport(target, name, size, sha, zsize, round(time.time() - tc, 3), compressed=zpath is not None,
                          compress_note=note)
        add[prefix + name] = repo.add_file(prefix + name, dest, {"ppm": {**base, "kind": "bundle"}})
        patches: dict[str, str] = {}
        olds = sorted((v for v in published.get(target, {}) if parse_version(v) < new_v), key=parse_version)
        for old_v in olds[-from_n:] if from_n > 0 else []:
            tr.patches.append(_make_patch(repo, published[target][old_v], old_v, dest, out_dir, tr, say, patch_ratio))
            pr = tr.patches[-1]
            if pr.published and pr.file:
                ppath = prefix + pr.file
                old_tf = published[target][old_v][1]
                add[ppath] = repo.add_file(ppath, out_dir / pr.file, {"ppm": {
                    **base, "kind": "patch", "from_version": old_v, "old_sha256": old_tf.hashes["sha256"],
                    "old_length": old_tf.length, "sha256": sha, "length": size, "method": pr.method,
                    "decoder_memory": pr.decoder_memory}})
                patches[old_v] = ppath
        entry = {"target": target, "version": version, "bundle": prefix + name, "compressed": zpath,
                 "patches": patches, "sha256": sha, "length": size}
        # A channel moves only forward: a forced re-publish of an old version does not demote the newest.
        on_channel = channels.channels_of(current).get(target, {}).get(channel)
        if on_channel is None or new_v >= parse_version(on_channel):
            merged = {**current, **add}
            cpath, ctf = channels.set_channel(repo, merged, entry, channel, rollout, force=force)
            add[cpath] = ctf
            (out_dir / "latest.json").write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        atomic_write_text(out_dir / "report.json", json.dumps(tr.to_json(), indent=2) + "\n")
        rel.targets[target] = tr
    rel.channel, rel.rollout = channel, rollout
    rel.targets_version = repo.publish(signers, expiry, add=add, remove=[p for p in remove if p not in add])
    rel.seconds = time.time() - t0
    atomic_write_text(releases_dir(root) / version / "report.json", json.dumps(rel.to_json(), indent=2) + "\n")
    return rel


def promote(root: Path, version: str, *, channel: str | None = None, rollout: float | str = 100.0,
            keys_dir: Path | None = None, expiry: Expiry | None = None, force: bool = False) -> dict[str, str]:
    """Move `version` to `channel` (default: the channel it is on) at `rollout` percent, for every
    target that has it. Returns target -> channel path changed."""
    m = manifest.load(root)
    parse_version(version)
    pct = channels.parse_rollout(rollout)
    repo = open_repository(root, project=m.name, keys_dir=keys_dir)
    signers = _signers_or_explain(repo, Path(keys_dir) if keys_dir else default_key_dirs(m.name)[1])
    current = repo.targets().signed.targets
    on = channels.channels_of(current)
    add: dict[str, Any] = {}
    done: dict[str, str] = {}
    for target in sorted({t for t in published_versions(repo)}):
        entry = channels.entry_for(current, target, version)
        if entry is None:
            continue
        ch = channel or next((c for c, v in sorted(on.get(target, {}).items()) if v == version), channels.STABLE)
        path, tf = channels.set_channel(repo, current, entry, ch, pct, force=force)
        add[path] = tf
        done[target] = f"{ch} at {pct:g}%"
    if not add:
        raise ReleaseError(f"version {version} is not published for any target", hint="`ppm release --plan` lists what is published")
    repo.publish(signers, expiry or Expiry(), add=add)
    return done


def _make_patch(repo: TufRepository, old: tuple[str, Any], old_v: str, new: Path, out_dir: Path,
                tr: TargetReport, say: Report, max_ratio: float) -> PatchReport:
    old_file = repo.file_path(*old)
    fname = f"{new.name}.from-{old_v}.patch"
    if not old_file.is_file():
        return PatchReport(old_v, 0, 0.0, 0.0, "", 0, False, f"old bundle missing from the repository ({old_file})")
    say(f"{tr.target}: patch from {old_v}")
    t = time.time()
    try:
        info = make_patch(old_file, new, out_dir / fname)
    except PatchError as e:
        return PatchReport(old_v, 0, 0.0, round(time.time() - t, 3), "", 0, False, f"not made: {e}")
    secs = round(time.time() - t, 3)
    ratio = info.patch_size / max(tr.compressed_size, 1)
    pr = PatchReport(old_v, info.patch_size, round(ratio, 4), secs, info.method, info.memory_need, True, file=fname)
    if ratio > max_ratio:
        (out_dir / fname).unlink()
        pr.published, pr.file = False, None
        pr.reason = f"{ratio:.0%} of the compressed bundle: not worth it, clients download the full file"
    return pr


def resign(root: Path, *, keys_dir: Path | None = None, expiry: Expiry | None = None) -> int:
    """Re-sign targets, snapshot and timestamp with fresh expiry dates (run it on a schedule
    shorter than the timestamp expiry). Returns the new targets version."""
    m = manifest.load(root)
    online = Path(keys_dir) if keys_dir else default_key_dirs(m.name)[1]
    repo = open_repository(root, project=m.name, keys_dir=online)
    return repo.publish(online_signers(repo, online), expiry or Expiry())
