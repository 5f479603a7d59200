"""The one place errors become messages: a PpmError, an OS error or a bug, each turned into a
line on stderr and an exit code. Standard library only, so the no-op fast paths in
ppm/__main__.py run under it before typer is imported."""

from __future__ import annotations

import os
import sys

from ppm.core.errors import PpmError, os_error_message

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (nor collections.abc): this runs first
if TYPE_CHECKING:
    from collections.abc import Callable

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in ppm, not in the user's input
DEBUG_ENV = "PPM_DEBUG"


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _print_error(message: str) -> None:
    from ppm.cli import ui

    try:
        ui.error(message)
    except UnicodeEncodeError:  # a non-UTF-8 file name in the message, on a strict stderr
        ui.error(message.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))


def guarded(fn: Callable[[], int | None], *, debug: bool) -> int:
    """Run `fn`; return the exit code to leave with. A traceback only for bugs and only on request."""
    try:
        return fn() or 0
    except PpmError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(os_error_message(e))
        return 1
    except UnicodeError as e:
        if debug:
            raise
        _print_error(f"a file name or file is not valid UTF-8 ({e}); rename the file or fix its encoding")
        return 1
    except Exception as e:  # the last line of defence: a bug, said as one
        if debug:
            raise
        _print_error(f"internal error: {type(e).__name__}: {e}\n  hint: this is a bug in ppm; rerun with --debug "
                     f"(or {DEBUG_ENV}=1) for the traceback and report it")
        return EXIT_INTERNAL


def strip_debug(argv: list[str]) -> list[str]:
    return [a for a in argv if a != "--debug"]


def exit_with(code: int) -> None:
    sys.stdout.flush()
    sys.exit(code)
