"""Entry point. Kept tiny: the no-op build is answered from the build record with the
standard library alone, before the CLI framework is imported, and so is a plain
`ppm patch apply` (ppm/cli/patchfast.py). Every error, on the fast path or
the full one, becomes a message at ppm/cli/edge.py."""

from __future__ import annotations

import sys

from ppm.cli import edge


def _main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        from ppm.build import fastpath

        code = fastpath.try_noop(argv[1:])
        if code is not None:
            return code
    elif argv[:1] == ["lock"]:
        from ppm.lockfile.project import try_noop

        code = try_noop(argv[1:])
        if code is not None:
            return code
    elif argv[:2] == ["patch", "apply"]:
        from ppm.cli import patchfast

        code = patchfast.try_apply(argv[2:])
        if code is not None:
            return code
    from ppm.cli.app import run

    return run(argv)


def main() -> None:
    argv = sys.argv[1:]
    debug = edge.debug_requested(argv)
    # --debug is a root option; accepted anywhere on the line so `ppm build --debug` works too
    args = edge.strip_debug(argv)
    edge.exit_with(edge.guarded(lambda: _main(args), debug=debug))


if __name__ == "__main__":
    main()
