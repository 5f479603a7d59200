"""Entry point. Kept tiny: the no-op build is answered from the build record with the
standard library alone, before the CLI framework is imported."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["build"]:
        from ppm.build import fastpath

        code = fastpath.try_noop(argv[1:])
        if code is not None:
            sys.exit(code)
    elif argv[:1] == ["lock"]:
        from ppm.lockfile.project import try_noop

        code = try_noop(argv[1:])
        if code is not None:
            sys.exit(code)
    from ppm.cli.app import run

    run()


if __name__ == "__main__":
    main()
