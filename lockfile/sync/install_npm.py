"""npm: <component>/node_modules/, what `npm ci` would install (scripts not run)."""

from __future__ import annotations

from ppm.core.safepath import join_under
from ppm.lockfile import export
from ppm.lockfile.errors import LockError
from ppm.lockfile.extract import extract_tgz
from ppm.lockfile.sync.host import needed_on_host, npm_fits
from ppm.lockfile.sync.staging import Context, Staged, temp_dir_beside


def stage(ctx: Context) -> Staged:
    rel = (ctx.comp_dir / "node_modules").relative_to(ctx.root).as_posix()
    staged = Staged(what=f"{len(ctx.world.packages)} packages in node_modules", outputs=[rel])
    final = ctx.comp_dir / "node_modules"
    if ctx.unchanged and final.is_dir():
        return staged
    tmp = temp_dir_beside(final)
    staged.dirs.append((tmp, final))
    try:
        for path, p in export._npm_layout(ctx.world, ctx.lock).items():
            if not npm_fits(p) or not p.artifacts or not needed_on_host("npm", p):
                continue
            what = f"npm package {p.name} {p.version}"
            if not path.startswith("node_modules/"):
                raise LockError(f"{what}: install path {path!r} is not under node_modules/; refused")
            dest = join_under(tmp, path.removeprefix("node_modules/"), what=what)
            dest.mkdir(parents=True, exist_ok=True)
            art = p.artifacts[0]
            extract_tgz(ctx.files[(art.url, art.hash)], dest, strip=1, what=what)
    except BaseException:
        staged.discard()
        raise
    return staged
