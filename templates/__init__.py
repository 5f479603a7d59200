"""What `ppm init` writes: each folder here is a template; `create` copies one, putting the project name in."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

from ppm.core.errors import PpmError
from ppm.core.fsutil import umask

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def needs_lock(project: Path) -> bool:
    """True when the project's ppm.toml declares dependencies: `ppm lock` comes before `ppm build`."""
    try:
        data = tomllib.loads((project / "ppm.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    comps = data.get("components", {})
    return bool(data.get("dependencies")) or any(isinstance(c, dict) and c.get("dependencies") for c in comps.values())


def templates_root() -> Path:
    return Path(__file__).parent


def create(path: Path, template: str = "demo") -> Path:
    dest = path.resolve()
    name = dest.name
    if not _NAME.match(name):
        raise PpmError(f"{name!r} is not a valid project name (letters, digits, '-' or '_', starting with a letter)")
    src = templates_root() / template
    if not src.is_dir() or not (src / "ppm.toml").is_file():
        known = sorted(p.name for p in templates_root().iterdir() if (p / "ppm.toml").is_file())
        raise PpmError(f"unknown template {template!r}; known: {', '.join(known)}")
    if dest.exists() and any(dest.iterdir()):
        raise PpmError(f"{dest} already exists and is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Build the tree beside the destination, then rename: no half-written project on failure.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest.parent))
    try:
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; a project directory follows the umask
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "target", "node_modules", ".ppm", "dist")]
            rel = Path(dirpath).relative_to(src)
            (tmp / rel).mkdir(parents=True, exist_ok=True)
            for fn in filenames:
                if fn.endswith(".pyc"):
                    continue
                s, d = Path(dirpath) / fn, tmp / rel / fn
                try:
                    text = s.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    shutil.copy2(s, d)
                    continue
                d.write_text(text.replace("{{name}}", name), encoding="utf-8")
                shutil.copymode(s, d)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
