"""Usage errors and OS errors through a real `ppm` installed the way the README installs it
(non-editable, into its own venv), and in-process: a usage message and exit 2, one line naming
the path for an OS error, never a traceback unless --debug / PPM_DEBUG asks for one."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ppm.cli import edge
from ppm.core.errors import PpmError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def installed_ppm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python3 -m venv DIR && DIR/bin/pip install REPO`, non-editable. The dependencies come from
    the test venv through a .pth file (the default run has no network); ppm itself is built and
    installed from the repository exactly as a user's pip would, so a missing declared
    dependency or package-data shows up here. About 8 s, once per session."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "ppm-test-deps.pth").write_text("\n".join(deps) + "\n")
    # from a clean copy: pip builds in the source tree, and a build/ left there by an older
    # build would ship modules that no longer exist
    src = venv.parent / "src"
    anywhere = shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                      "node_modules", "target",
                                      "*.so", "*.pyd")  # extensions built in place by `pip install -e`: pip must build its own

    def ignore(d: str, names: list[str]) -> set[str]:
        return set(anywhere(d, names)) | ({"build", "dist"} & set(names) if Path(d) == REPO else set())

    shutil.copytree(REPO, src, ignore=ignore)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(src)],
                   check=True, capture_output=True)
    return venv / "bin" / "ppm"


def _ppm(exe: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PPM_DEBUG")}
    e.update(env or {})
    return subprocess.run([str(exe), *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=120)


USAGE_ERRORS = [
    ("build", "--bogus"), ("bogus",), ("init",), ("help",), ("build", "--target"),
    ("update", "--install", "X"), ("lock", "--upgrade-package"), ("build", "-j", "many"),
]


def test_installed_ppm_is_not_the_checkout(installed_ppm: Path, tmp_path: Path) -> None:
    # every module the ecosystems table names is installed (a package missing from pyproject.toml's
    # list would only fail here, in a user's non-editable install)
    code = ("import importlib, ppm; from ppm.lockfile import ecosystems as e\n"
            "for row in e.TABLE.values():\n"
            "    importlib.import_module(row.installer); importlib.import_module(row.resolver)\n"
            "    importlib.import_module(row.client.partition(':')[0])\n"
            "print(ppm.__file__)")
    r = subprocess.run([str(installed_ppm.parent / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert str(REPO) not in r.stdout and "site-packages" in r.stdout


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=" ".join)
def test_usage_error_is_a_message_and_exit_2(installed_ppm: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    r = _ppm(installed_ppm, *args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Error:" in r.stderr, r.stderr


def test_oserror_names_the_path_once(installed_ppm: Path, tmp_path: Path) -> None:
    # a directory where ppm.toml should be a file: EISDIR, the same path for root or not
    (tmp_path / "ppm.toml").mkdir()
    r = _ppm(installed_ppm, "lock", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "ppm.toml" in r.stderr and r.stderr.startswith("error: "), r.stderr


# ---------------------------------------------------------------------------------------------
# in-process: the same edge, every kind of failure


def test_guarded_maps_each_failure() -> None:
    def oserr() -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/cache/x")

    def bug() -> int:
        raise ZeroDivisionError("boom")

    def user() -> int:
        raise PpmError("bad input", hint="fix it")

    assert edge.guarded(lambda: 3, debug=False) == 3
    assert edge.guarded(oserr, debug=False) == 1
    assert edge.guarded(user, debug=False) == 1
    assert edge.guarded(bug, debug=False) == edge.EXIT_INTERNAL
    with pytest.raises(ZeroDivisionError):
        edge.guarded(bug, debug=True)


def test_guarded_messages(capsys: pytest.CaptureFixture[str]) -> None:
    def erofs() -> int:
        raise OSError(errno.EROFS, "Read-only file system", "/proj/.ppm/x")

    def bug() -> int:
        raise KeyError("k")

    edge.guarded(erofs, debug=False)
    err = capsys.readouterr().err
    assert err.startswith("error: /proj/.ppm/x: Read-only file system") and "hint:" in err and "Traceback" not in err
    edge.guarded(bug, debug=False)
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "--debug" in err and "Traceback" not in err


def test_run_returns_2_on_usage_error_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from ppm.cli.app import run

    assert run(["build", "--bogus"]) == 2
    assert "No such option" in capsys.readouterr().err
    assert run(["--version"]) == 0


def test_installed_ppm_has_its_c_modules(installed_ppm: Path, tmp_path: Path) -> None:
    """pip install builds the C modules (setup.py: the executable transform's engine ppm._xform and
    HDiffPatch's stream decoder ppm._hpatch) and ships their sources and stubs, unless
    PPM_NO_NATIVE=1 asks for the pure-Python install (then the Python transform and the hdiffpatch
    package's decoder are used)."""
    code = ("from pathlib import Path; import ppm._xform as x, ppm._hpatch as h\n"
            "for m in (x, h):\n"
            "    p = Path(m.__file__); print(p); n = p.name.split('.')[0]\n"
            "    assert (p.parent / (n + '.c')).is_file() and (p.parent / (n + '.pyi')).is_file()")
    r = subprocess.run([str(installed_ppm.parent / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True)
    if os.environ.get("PPM_NO_NATIVE") == "1":
        assert r.returncode != 0
        return
    assert r.returncode == 0, r.stderr
    assert str(REPO) not in r.stdout and "site-packages" in r.stdout
