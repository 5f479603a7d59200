"""Lay out ppm's modules as the installed package is, as links, for tools that read packages
from disk (mypy, import-linter): pyproject.toml maps builders/ to ppm.builders and so on with
setuptools' package-dir, which those tools do not follow in an editable install.

usage: python .ci/stage_tree.py DEST    (prints "STAGED_PREFIX=REPO_PREFIX" lines, one per
                                         mapped folder, for turning staged paths back)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(dest: Path) -> None:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = cfg["package-dir"]
    for package in cfg["packages"]:
        # the longest mapped prefix decides where the package's folder is
        prefix = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
        src = REPO / mapping[prefix] / Path(*package[len(prefix):].split(".")[1:])
        out = dest / Path(*package.split("."))
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted([*src.glob("*.py"), *src.glob("*.pyi")]):  # .pyi: the C extensions' stubs
            (out / f.name).symlink_to(f)
    for prefix, folder in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        print(f"{Path(*prefix.split('.'))}/={folder}/")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
