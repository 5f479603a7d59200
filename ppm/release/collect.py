"""`ppm release --collect DIR`: the bundles each platform's runner built, gathered in one place.

    DIR/<target>/<bundle>          or   DIR/ppm-<target>/<bundle>   (the action's artifact names)

Each runner builds its own target (a PyInstaller bundle only builds on its own platform); one job
downloads every artifact into DIR and signs once. What arrives is data from other machines: a
directory name must be a known target, it must hold exactly one regular file (no links, nothing
hidden), and the file must lie inside DIR.
"""

from __future__ import annotations

from pathlib import Path

from ppm.core.errors import PpmError
from ppm.targets import TARGETS

ARTIFACT_PREFIX = "ppm-"


class CollectError(PpmError):
    """The collected bundles are not what a release can publish."""


def collect_bundles(directory: Path, *, only: list[str] | None = None) -> dict[str, Path]:
    """target -> bundle file found under `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CollectError(f"--collect {directory}: not a directory",
                           hint="download the runners' artifacts into one directory (actions/download-artifact path:)")
    base = directory.resolve()
    out: dict[str, Path] = {}
    for d in sorted(directory.iterdir()):
        if d.name.startswith("."):
            continue
        target = d.name.removeprefix(ARTIFACT_PREFIX)
        if target not in TARGETS:
            raise CollectError(f"{d}: {d.name!r} is not a target (or {ARTIFACT_PREFIX}<target>)",
                               hint=f"known targets: {', '.join(sorted(TARGETS))}")
        if d.is_symlink() or not d.is_dir():
            raise CollectError(f"{d}: expected a directory holding {target}'s bundle")
        files = [f for f in d.iterdir() if not f.name.startswith(".") and not f.name.endswith(".json")]
        if len(files) != 1:
            raise CollectError(f"{d}: expected exactly one bundle, found {len(files)} ({', '.join(f.name for f in files) or 'none'})",
                               hint="upload only dist/<target>/<bundle> from each runner")
        f = files[0]
        if f.is_symlink() or not f.is_file() or base not in f.resolve().parents:
            raise CollectError(f"{f}: the bundle must be a regular file inside {directory}, not a link")
        if target in out:
            raise CollectError(f"{directory}: two directories hold {target}'s bundle")
        out[target] = f
    if only:
        missing = [t for t in only if t not in out]
        if missing:
            raise CollectError(f"{directory} has no bundle for {', '.join(missing)}",
                               hint=f"found: {', '.join(sorted(out)) or 'none'}; did that runner's job fail?")
        out = {t: out[t] for t in only}
    if not out:
        raise CollectError(f"{directory} holds no bundles", hint="expected DIR/<target>/<bundle> for each runner")
    return out
