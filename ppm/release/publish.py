"""`ppm release`: publish a version's bundles, zstd-compressed copies, patches from earlier
versions, and signed update metadata.

    dist/releases/<version>/<target>/<bundle>                 the executable
    dist/releases/<version>/<target>/<bundle>.zst             the same, zstd -19 with a window covering it
    dist/releases/<version>/<target>/<bundle>.from-<old>.patch   ppm.delta patches, only when clearly smaller
    dist/releases/<version>/<target>/report.json              sizes, ratios, times
    dist/releases/repository/                                 the TUF repository (see ppm.release.tufrepo)

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError
from ppm.core.fsutil import atomic_write_text
from ppm.core.fsutil import rmtree
from ppm.core.fsutil import sha256_file
from ppm.release.tufrepo import Expiry
from ppm.release.tufrepo import TufRepository

DEFAULT_FROM = 3
# A patch is published only when at most this fraction of the compressed bundle: below that the
# saving is worth a second code path on the client; above it the full file is nearly as cheap.
DEFAULT_PATCH_RATIO = 0.8
ZSTD_LEVEL = 19
_ZSTD_DECODER_OVERHEAD = 16 << 20

Report = Callable[[str], None]


class ReleaseError(PpmError):
    """A release cannot be published as asked."""


def releases_dir(root: Path) -> Path:
    return root / "dist" / "releases"


def repository_dir(root: Path) -> Path:
    return releases_dir(root) / "repository"


def parse_version(v: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(v)
    except InvalidVersion:
        raise ReleaseError(f"{v!r} is not a version ppm can order", hint="use a version like 1.2.3 (PEP 440 / semver core)") from None


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
    patches: list[PatchReport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class ReleaseReport:
    project: str
    version: str
    repository: str
    targets_version: int = 0
    targets: dict[str, TargetReport] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version, "repository": self.repository,
                "targets_version": self.targets_version, "seconds": round(self.seconds, 3),
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


def release(root: Path, *, version: str | None = None, from_n: int = DEFAULT_FROM, force: bool = False,
            targets: list[str] | None = None, keys_dir: Path | None = None, expiry: Expiry | None = None,
            patch_ratio: float = DEFAULT_PATCH_RATIO, report: Report | None = None,
            bundles: dict[str, Path] | None = None) -> ReleaseReport:
    """Publish `version` (default: the manifest's). `bundles` (target -> file) skips the build:
    for tests and for publishing bundles built elsewhere."""
    from ppm.core import manifest
    from ppm.release.keys import KeyDirs
    from ppm.release.keys import default_key_dirs
    from ppm.release.keys import online_signers

    t0 = time.time()
    say = report or (lambda _m: None)
    expiry = expiry or Expiry()
    m = manifest.load(root)
    version = version or m.version
    new_v = parse_version(version)
    repo = TufRepository(repository_dir(root))
    if not repo.exists():
        raise ReleaseError(f"no update repository at {repo.path}", hint="run `ppm keys init` first")
    root_dir, online_dir = default_key_dirs(m.name)
    dirs = KeyDirs(root_dir, Path(keys_dir) if keys_dir else online_dir)
    dirs.check_outside(root)
    signers = online_signers(repo, dirs.online)  # fail before spending minutes building

    published = published_versions(repo)
    every = {v for vs in published.values() for v in vs}
    if version in every and not force:
        raise ReleaseError(f"version {version} is already published", hint="bump the version, or pass --force to replace it")
    newest = max(every, key=parse_version, default=None)
    if newest is not None and new_v < parse_version(newest) and not force:
        raise ReleaseError(f"version {version} is lower than the newest published version {newest}",
                           hint="bump the version, or pass --force")

    if bundles is None:
        from ppm.build.run import build

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
        say(f"{target}: compressing {name} ({size / 1e6:.1f} MB)")
        tc = time.time()
        zsize, zmem = compress(dest, out_dir / f"{name}.zst")
        tr = TargetReport(target, name, size, sha, zsize, round(time.time() - tc, 3))
        base = {"target": target, "version": version}
        add[prefix + name] = repo.add_file(prefix + name, dest, {"ppm": {**base, "kind": "bundle"}})
        zpath = prefix + name + ".zst"
        add[zpath] = repo.add_file(zpath, out_dir / f"{name}.zst", {"ppm": {
            **base, "kind": "compressed", "encoding": "zstd", "sha256": sha, "length": size, "decoder_memory": zmem}})
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
        # latest.json moves only forward: a forced re-publish of an old version does not demote the newest.
        if newest is None or new_v >= parse_version(newest):
            latest = out_dir / "latest.json"
            latest.write_text(json.dumps({"target": target, "version": version, "bundle": prefix + name,
                                          "compressed": zpath, "patches": patches, "sha256": sha, "length": size},
                                         indent=2, sort_keys=True) + "\n")
            add[f"{target}/latest.json"] = repo.add_file(f"{target}/latest.json", latest, {"ppm": {**base, "kind": "latest"}})
        atomic_write_text(out_dir / "report.json", json.dumps(tr.to_json(), indent=2) + "\n")
        rel.targets[target] = tr
    rel.targets_version = repo.publish(signers, expiry, add=add, remove=[p for p in remove if p not in add])
    rel.seconds = time.time() - t0
    atomic_write_text(releases_dir(root) / version / "report.json", json.dumps(rel.to_json(), indent=2) + "\n")
    return rel


def _make_patch(repo: TufRepository, old: tuple[str, Any], old_v: str, new: Path, out_dir: Path,
                tr: TargetReport, say: Report, max_ratio: float) -> PatchReport:
    from ppm.delta import PatchError, make_patch

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
    from ppm.core import manifest
    from ppm.release.keys import default_key_dirs
    from ppm.release.keys import online_signers

    m = manifest.load(root)
    repo = TufRepository(repository_dir(root))
    if not repo.exists():
        raise ReleaseError(f"no update repository at {repo.path}", hint="run `ppm keys init` first")
    online = Path(keys_dir) if keys_dir else default_key_dirs(m.name)[1]
    return repo.publish(online_signers(repo, online), expiry or Expiry())
