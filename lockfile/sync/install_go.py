"""Go: .ppm/vendor/go/, a GOPROXY=file:// tree (go build -mod=readonly) of verified files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ppm.core.safepath import join_under
from ppm.lockfile.extract import check_zip
from ppm.lockfile.registries.go import escape
from ppm.lockfile.sync.fetches import fetches
from ppm.lockfile.sync.staging import Context, Staged, copy_verified
from ppm.lockfile.sync.state import VENDOR


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def stage(ctx: Context) -> Staged:
    base = ctx.root / VENDOR / "go"
    copies: list[tuple[Path, Path]] = []
    infos: list[tuple[Path, str]] = []
    versions: dict[str, set[str]] = {}
    for j in fetches(ctx.world):
        what = f"Go module {j.pkg.name} {j.pkg.version}"
        d = join_under(base, escape(j.pkg.name), "@v", what=what)
        name = j.url.rsplit("/", 1)[-1]
        src = ctx.files[(j.url, j.hash)]
        if name.endswith(".zip"):
            check_zip(src, what=what)  # the go command unpacks it
            infos.append((join_under(d, f"{j.pkg.version}.info", what=what), j.pkg.version))
        copies.append((src, join_under(d, name, what=what)))
        versions.setdefault(j.pkg.name, set()).add(j.pkg.version)

    def place() -> None:
        for src, dest in copies:
            copy_verified(src, dest)
        for path, v in infos:
            _write(path, json.dumps({"Version": v}) + "\n")
        for m, vs in versions.items():
            listing = base / escape(m) / "@v" / "list"
            have = {x.strip() for x in listing.read_text().splitlines()} if listing.is_file() else set()
            _write(listing, "".join(f"{v}\n" for v in sorted(have | vs)))

    return Staged(what=f"{len(ctx.world.packages)} modules in the local module proxy", later=[place])
