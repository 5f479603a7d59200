"""cargo: .ppm/vendor/cargo/<name>-<version>/, a `directory` source (cargo --locked --offline)."""

from __future__ import annotations

import json

from ppm.core.safepath import join_under
from ppm.lockfile.extract import extract_tgz
from ppm.lockfile.sync.staging import Context, Staged, temp_dir_beside
from ppm.lockfile.sync.state import VENDOR


def stage(ctx: Context) -> Staged:
    staged = Staged(what=f"{len(ctx.world.packages)} crates vendored")
    vendor = ctx.root / VENDOR / "cargo"
    try:
        for p in ctx.world.packages:
            final = join_under(vendor, f"{p.name}-{p.version}", what=f"crate {p.name} {p.version}")
            art = p.artifacts[0]
            cksum = art.hash.split(":", 1)[1]
            marker = final / ".cargo-checksum.json"
            try:
                # cargo checks every file against this record when it builds, but the record
                # sits beside the files: reused only when this machine's last sync vouches for it
                if ctx.trusted and json.loads(marker.read_text()).get("package") == cksum:
                    continue
            except (OSError, ValueError, AttributeError):
                pass
            tmp = temp_dir_beside(final)
            staged.dirs.append((tmp, final))
            sums = extract_tgz(ctx.files[(art.url, art.hash)], tmp, strip=1, what=f"crate {p.name} {p.version}")
            (tmp / ".cargo-checksum.json").write_text(json.dumps({"files": dict(sorted(sums.items())), "package": cksum}))
    except BaseException:
        staged.discard()
        raise
    return staged
