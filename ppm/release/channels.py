"""Channels and staged rollouts, kept inside the signed targets metadata.

A channel is one signed JSON document per target: `<target>/latest.json` for `stable` (the file
clients have always read) and `<target>/channels/<name>.json` for the others. It names the
version, its files (bundle, compressed copy, patches), and a rollout percentage; while a rollout
is below 100% it also carries the `fallback`: what the channel offered before, which installs the
rollout does not admit stay on. Because the document is a TUF target, a server cannot alter or
replay it; because a channel may only move forward, a stolen or mistaken publish cannot send
installs backwards (`promote` and `release` refuse it here, the client refuses it again).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from ppm.core.errors import PpmError
from ppm.release.config import parse_version
from ppm.release.tufrepo import TufRepository
from ppm.update.rollout import STABLE, channel_path, valid_channel

__all__ = ["STABLE", "ChannelError", "channel_path", "channels_of", "check_channel", "entry_for", "parse_rollout",
           "read_channel", "set_channel"]
_ROLLOUT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$")


class ChannelError(PpmError):
    """A channel name, rollout or move is not allowed."""


def check_channel(name: str) -> str:
    if not valid_channel(name):
        raise ChannelError(f"channel {name!r} is not a channel name",
                           hint="use lower-case letters, digits and '-', starting with a letter (stable, beta, nightly)")
    return name


def parse_rollout(text: str | float) -> float:
    """'10%', '10' or 10 -> 10.0; refuses anything outside 0-100."""
    m = _ROLLOUT.match(str(text))
    pct = float(m.group(1)) if m else -1.0
    if not 0 <= pct <= 100:
        raise ChannelError(f"rollout {text!r} is not a percentage between 0% and 100%", hint="for example --rollout 10%")
    return pct


def _meta(tf: Any) -> dict[str, Any]:
    custom = tf.custom if isinstance(tf.custom, dict) else {}
    m = custom.get("ppm", {})
    return m if isinstance(m, dict) else {}


def entry_for(targets: dict[str, Any], target: str, version: str) -> dict[str, Any] | None:
    """What a channel offers for `version` of `target`, rebuilt from the signed targets alone."""
    entry: dict[str, Any] = {"target": target, "version": version, "bundle": None, "compressed": None, "patches": {}}
    for path, tf in targets.items():
        m = _meta(tf)
        if m.get("target") != target or m.get("version") != version:
            continue
        if m.get("kind") == "bundle":
            entry.update(bundle=path, sha256=tf.hashes["sha256"], length=tf.length)
        elif m.get("kind") == "compressed":
            entry["compressed"] = path
        elif m.get("kind") == "patch" and isinstance(m.get("from_version"), str):
            entry["patches"][m["from_version"]] = path
    return entry if entry["bundle"] else None


def read_channel(repo: TufRepository, targets: dict[str, Any], target: str, channel: str) -> dict[str, Any] | None:
    """The channel's current signed document, from the repository's own copy."""
    path = channel_path(target, channel)
    tf = targets.get(path)
    if tf is None:
        return None
    f = repo.file_path(path, tf)
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise ChannelError(f"cannot read the {channel} channel of {target} at {f}: {e}",
                           hint="restore the repository directory (see [release] url)") from None


def channels_of(targets: dict[str, Any]) -> dict[str, dict[str, str]]:
    """target -> channel -> version, from the signed targets."""
    out: dict[str, dict[str, str]] = {}
    for tf in targets.values():
        m = _meta(tf)
        if m.get("kind") in ("latest", "channel"):
            out.setdefault(m["target"], {})[m.get("channel", STABLE)] = m["version"]
    return out


def set_channel(repo: TufRepository, targets: dict[str, Any], entry: dict[str, Any], channel: str, rollout: float,
                *, force: bool = False) -> tuple[str, Any]:
    """Point `channel` of entry's target at `entry` with `rollout` percent; returns (target path,
    TargetFile) to add to the next targets version. A move backwards is refused unless `force`."""
    check_channel(channel)
    target, version = entry["target"], entry["version"]
    current = read_channel(repo, targets, target, channel)
    fallback: dict[str, Any] | None = None
    if current is not None:
        cur_v = current.get("version")
        if isinstance(cur_v, str) and parse_version(version) < parse_version(cur_v) and not force:
            raise ChannelError(f"the {channel} channel of {target} is at {cur_v}; moving it back to {version} would "
                               "downgrade installs, which clients refuse as a rollback",
                               hint="publish a higher version instead")
        if rollout < 100:
            if cur_v == version or float(current.get("rollout", 100)) < 100:
                fallback = current.get("fallback")  # still rolling out: the last fully rolled-out state stays
            else:
                fallback = {k: current[k] for k in ("target", "version", "bundle", "compressed", "patches", "sha256", "length")
                            if k in current}
    doc = {**{k: entry[k] for k in ("target", "version", "bundle", "compressed", "patches", "sha256", "length")},
           "channel": channel, "rollout": rollout, "fallback": fallback}
    path = channel_path(target, channel)
    custom = {"ppm": {"target": target, "version": version, "channel": channel,
                      "kind": "latest" if channel == STABLE else "channel",
                      "rollout_bp": round(rollout * 100),  # basis points: canonical JSON has no floats
                      "fallback_versions": [fallback["version"]] if fallback else []}}
    with tempfile.TemporaryDirectory(prefix="ppm-channel-") as tmp:
        f = Path(tmp) / Path(path).name
        f.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return path, repo.add_file(path, f, custom)
