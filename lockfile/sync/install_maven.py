"""Maven: .ppm/vendor/maven/, a repository layout, and <component>.classpath."""

from __future__ import annotations

import os
from pathlib import Path

from ppm.core.safepath import join_under
from ppm.lockfile.sync.host import needed_on_host
from ppm.lockfile.sync.staging import Context, Staged, copy_verified
from ppm.lockfile.sync.state import VENDOR


def stage(ctx: Context) -> Staged:
    base = ctx.root / VENDOR / "maven"
    copies: list[tuple[Path, Path]] = []
    cp: list[str] = []
    for p in ctx.world.packages:
        if not needed_on_host("maven", p):
            continue
        what = f"maven package {p.name} {p.version}"
        g, art = p.name.split(":", 1)
        for a in p.artifacts:
            fn = a.url.rsplit("/", 1)[-1]
            dest = join_under(base, *g.split("."), art, p.version, fn, what=what)
            copies.append((ctx.files[(a.url, a.hash)], dest))
            if fn.endswith(".jar"):
                cp.append("{project}/" + dest.relative_to(ctx.root).as_posix())

    def place() -> None:
        for src, dest in copies:
            copy_verified(src, dest)

    listing = Path(".ppm") / "sync" / "maven" / f"{ctx.world.component or 'project'}.classpath"
    text = os.pathsep.join(x.replace("{project}", str(ctx.root)) for x in cp) + "\n"
    return Staged(what=f"{len(ctx.world.packages)} artifacts", later=[place], state={"classpath": cp}, texts={listing: text})
