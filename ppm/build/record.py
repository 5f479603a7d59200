"""The last build's record (`.ppm/actions.json`): each action's key, outputs, and the stats of
its materialized outputs, so that an unchanged action is known up to date without hashing.
An action whose outputs were left on a remote (`lazy`: the remote's URL) has no stats: it is up
to date while its key is unchanged, and its outputs are fetched when something here needs them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ppm.build.results import Result
from ppm.core.fsutil import atomic_write_text

FILE = "actions.json"


def load(state: Path) -> dict[str, Any]:
    try:
        data = json.loads((state / FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def materialized_ok(out_dir: Path, prev: Mapping[str, Any]) -> bool:
    """Whether the outputs in `out_dir` are, by their stats, those the record saw placed."""
    stats = prev.get("out_stats", {})
    for rel in prev.get("outputs", {}):
        try:
            st = os.stat(out_dir / rel)
        except FileNotFoundError:
            return False
        if stats.get(rel) != [st.st_size, st.st_mtime_ns, st.st_ino]:
            return False
    return True


def save(state: Path, previous: Mapping[str, Any], results: Iterable[Result]) -> None:
    """Merge this build's settled actions into the previous record and write it atomically."""
    actions = dict(previous.get("actions", {}))
    for r in results:
        if r.status not in ("up-to-date", "cached", "ran"):
            continue
        if r.lazy:
            # Held remotely: nothing here to stat (what sits in out_dir, if anything, is older).
            actions[r.id] = {"key": r.key, "outputs": {k: o.to_json() for k, o in r.outputs.items()},
                             "lazy": r.lazy, "ingredients": r.ingredients}
            continue
        out_stats = {}
        for rel in r.outputs:
            try:
                st = os.stat(Path(r.out_dir) / rel)
                out_stats[rel] = [st.st_size, st.st_mtime_ns, st.st_ino]
            except FileNotFoundError:
                pass
        actions[r.id] = {"key": r.key, "outputs": {k: o.to_json() for k, o in r.outputs.items()},
                         "out_stats": out_stats, "ingredients": r.ingredients}
    atomic_write_text(state / FILE, json.dumps({"version": 1, "actions": actions}, separators=(",", ":")))
