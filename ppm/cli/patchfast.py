"""`ppm patch apply OLD PATCH -o NEW` without the CLI framework.

Applying a patch is what an updater does on every user's machine, so it is held to bspatch's
time: typer and rich cost more to import (about 0.1 s) than applying a 2 MB patch. This path
reads exactly the grammar the typer command accepts for a plain apply (two arguments, `-o`/
`--output`, `--max-memory`, in any order, `--opt=value` and `-oVALUE` forms included) and
answers it with the standard library and ppm.delta; anything else (`--help`, an unknown option,
a missing argument, a size it cannot read) returns None and the typer command answers, with its
usage message and exit code 2. Errors raised while applying are ppm's own and reach
ppm/cli/edge.py as on the full path.

Imports: the standard library only at module level (it runs before anything else), and
ppm.delta once the command line is known to be a plain apply.
"""

from __future__ import annotations

import sys

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """512M, 2G, 1.5g, 4096 (bytes): the sizes --max-memory takes. ValueError when it is not one."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in _UNITS:
        return int(float(t[:-1]) * _UNITS[t[-1]])
    return int(t)


def _parse(args: list[str]) -> tuple[str, str, str, int | None] | None:
    """(old, patch, output, max memory) for a plain `patch apply` command line, else None."""
    positional: list[str] = []
    output: str | None = None
    max_memory: int | None = None
    i = 0
    while i < len(args):
        a = args[i]
        value: str | None = None
        if a in ("-o", "--output", "--max-memory"):
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 2
        elif a.startswith("--output=") or a.startswith("--max-memory="):
            a, _, value = a.partition("=")
            i += 1
        elif a.startswith("-o") and len(a) > 2 and not a.startswith("--"):
            a, value = "-o", a[2:]
            i += 1
        elif a.startswith("-"):  # --help, --, an option this path does not know: typer answers
            return None
        else:
            positional.append(a)
            i += 1
            continue
        if a == "--max-memory":
            try:
                max_memory = parse_size(value)
            except ValueError:
                return None
        else:
            output = value
    if len(positional) != 2 or output is None:
        return None
    return positional[0], positional[1], output, max_memory


def try_apply(args: list[str]) -> int | None:
    """Apply the patch for `ppm patch apply ARGS` and return 0, or None to let the typer command answer."""
    parsed = _parse(args)
    if parsed is None:
        return None
    import time

    # ppm.delta takes the paths as strings: pathlib alone would cost 6 ms here
    from ppm import delta

    old, patch, output, max_memory = parsed
    start = time.perf_counter()
    delta.apply_patch(old, patch, output, max_memory=max_memory)
    sys.stdout.write(f"wrote {output} in {time.perf_counter() - start:.2f} s\n")
    return 0
