"""The CLI edge through a real `ppm` process: usage errors and start-up behaviour."""

from __future__ import annotations

from pathlib import Path

from helpers import run_ppm
from ppm import __version__


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    p = run_ppm("build", "--bogus", cwd=tmp_path, check=False)
    assert p.returncode == 2, p.stderr
    assert "No such option: --bogus" in p.stderr and "build --help' for help" in p.stderr
    assert "Traceback" not in p.stderr


def test_version(tmp_path: Path) -> None:
    p = run_ppm("--version", cwd=tmp_path)
    assert p.stdout.strip() == f"ppm {__version__}"
