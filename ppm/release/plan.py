"""`ppm release --plan`: what a release would publish, without building, signing or keys.

Meant for pull requests: it reads the manifest, `[release]`, and the local repository when there
is one (a pull request's runner usually has none; then it says the repository would be restored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ppm import targets as targets_mod
from ppm.core import manifest
from ppm.release import channels, config
from ppm.release.collect import collect_bundles
from ppm.release.config import parse_version
from ppm.release.publish import newest_on_channel, published_versions
from ppm.release.tufrepo import TufRepository


def plan_release(root: Path, *, version: str | None = None, channel: str = "stable", rollout: float | str = 100.0,
                 from_n: int = 3, targets: list[str] | None = None, collect_dir: Path | None = None,
                 force: bool = False) -> dict[str, Any]:
    m = manifest.load(root)
    cfg = config.load(root, m.name)
    version = version or m.version
    new_v = parse_version(version)
    channels.check_channel(channel)
    pct = channels.parse_rollout(rollout)
    if collect_dir is not None:
        bundles = {t: str(p) for t, p in collect_bundles(collect_dir, only=targets).items()}
    else:
        names = targets or m.targets
        bundles = {targets_mod.get(t).name: "built by `ppm build`" for t in names}
    repo = TufRepository(cfg.repository)
    problems: list[str] = []
    published: dict[str, dict[str, Any]] = {}
    on: dict[str, dict[str, str]] = {}
    if repo.exists():
        published = published_versions(repo)
        on = channels.channels_of(repo.targets().signed.targets)
        every = {v for vs in published.values() for v in vs}
        if version in every and not force:
            problems.append(f"version {version} is already published")
        newest = newest_on_channel(repo, channel, every)
        if newest is not None and new_v < parse_version(newest) and not force:
            problems.append(f"version {version} is lower than the newest published version {newest}")
        repo_state = "present"
    elif cfg.url:
        repo_state = f"missing here: would be restored from {cfg.url}"
    else:
        repo_state = "missing here: `ppm release` would refuse (set [release] url, or restore the directory)"
    out_targets: dict[str, Any] = {}
    for t, b in sorted(bundles.items()):
        olds = sorted((v for v in published.get(t, {}) if parse_version(v) < new_v), key=parse_version)
        cur = on.get(t, {}).get(channel)
        moves = cur is None or new_v >= parse_version(cur)
        out_targets[t] = {"bundle": b, "patches_from": olds[-from_n:] if from_n > 0 else [],
                          "channel_now": cur, "channel_moves": moves}
    return {"project": m.name, "version": version, "channel": channel, "rollout": pct,
            "repository": str(cfg.repository), "repository_state": repo_state, "url": cfg.url,
            "targets": out_targets, "problems": problems}
