"""PyPI: .ppm/vendor/pypi/<component>/site/, `pip install --require-hashes --no-deps --target`."""

from __future__ import annotations

import shutil
import subprocess
import sys

from ppm.core.fsutil import rmtree
from ppm.core.safepath import join_under
from ppm.lockfile import export
from ppm.lockfile.errors import LockError
from ppm.lockfile.extract import check_zip
from ppm.lockfile.sync.host import wheel_name, wheels_for_host
from ppm.lockfile.sync.staging import Context, Staged, temp_dir_beside
from ppm.lockfile.sync.state import VENDOR


def stage(ctx: Context) -> Staged:
    w = ctx.world
    final = ctx.root / VENDOR / "pypi" / (w.component or "project") / "site"
    staged = Staged(what=f"{len(w.packages)} packages installed with --require-hashes",
                    outputs=[final.relative_to(ctx.root).as_posix()])
    if ctx.unchanged and final.is_dir():
        return staged
    host_pkgs = [p for p in w.packages if wheels_for_host(p)]
    tmp = temp_dir_beside(final)
    staged.dirs.append((tmp, final))
    links = temp_dir_beside(final.with_name("wheels"))
    try:
        for p in host_pkgs:
            for a in wheels_for_host(p):
                what = f"pypi package {p.name} {p.version}"
                src = ctx.files[(a.url, a.hash)]
                check_zip(src, what=f"{what} ({wheel_name(a.url)})")  # pip unpacks it: bounded first
                shutil.copyfile(src, join_under(links, wheel_name(a.url), what=what))
        req = links / "requirements.txt"
        req.write_text(export.requirements(w, host_pkgs).replace("--index-url", "# index:"))
        if host_pkgs:
            # pip's own locked mode: every file must carry a hash that matches (and they were
            # verified on download already); --no-index: nothing but the verified wheels.
            cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--require-hashes", "--no-deps", "--no-index",
                   "--only-binary", ":all:", "--find-links", str(links), "--no-compile", "--disable-pip-version-check",
                   "--no-warn-script-location", "-q", "--target", str(tmp), "-r", str(req)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise LockError(f"{w.label}: pip install --require-hashes failed:\n{r.stderr.strip()[-2000:]}")
    except BaseException:
        staged.discard()
        raise
    finally:
        rmtree(links)
    return staged
