"""Generate a project of N small C components and the equivalent Makefile.

Component i has one source file and is linked into a shared library; it needs component
(i - 1) // FANOUT, so the graph is a tree as deep as log_FANOUT(N). The Makefile expresses the
same commands and the same edges (a component's compile waits for the library it needs)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

FANOUT = 8


def generate(dest: Path, n: int) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    toml = ["[project]", 'name = "cgraph"', 'version = "0.1.0"', ""]
    make = ["CC ?= cc", "CFLAGS = -O2 -fPIC", "", "all: " + " ".join(f"c{i}/out/libc{i}.so" for i in range(n)), ""]
    for i in range(n):
        comp = dest / f"c{i}"
        (comp / "src").mkdir(parents=True)
        (comp / "include").mkdir()
        (comp / "include" / f"c{i}.h").write_text(f"int c{i}_value(int x);\n")
        (comp / "src" / f"c{i}.c").write_text(
            f'#include "c{i}.h"\n'
            f"static int table[16] = {{{', '.join(str((i * 7 + k) % 101) for k in range(16))}}};\n"
            f"int c{i}_value(int x) {{ int s = 0; for (int k = 0; k < 16; k++) s += table[k] * (x + k); return s + {i}; }}\n"
        )
        toml += [f"[components.c{i}]", 'builder = "cc"', f'path = "c{i}"']
        parent = (i - 1) // FANOUT if i else None
        if parent is not None:
            toml.append(f'needs = ["c{parent}"]')
        toml.append("")
        dep = f" c{parent}/out/libc{parent}.so" if parent is not None else ""
        make += [
            f"c{i}/out/c{i}.o: c{i}/src/c{i}.c c{i}/include/c{i}.h{dep}",
            "\t@mkdir -p $(@D)",
            f"\t$(CC) -c $(CFLAGS) -Ic{i}/include c{i}/src/c{i}.c -o $@",
            f"c{i}/out/libc{i}.so: c{i}/out/c{i}.o",
            "\t$(CC) -shared -o $@ $^",
            "",
        ]
    (dest / "ppm.toml").write_text("\n".join(toml))
    (dest / "Makefile").write_text("\n".join(make))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dest", type=Path)
    ap.add_argument("-n", type=int, default=1000)
    a = ap.parse_args()
    generate(a.dest, a.n)
