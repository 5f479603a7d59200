"""One host detection: every spelling platform.system() / platform.machine() give, as ppm's
platform name, the same for the build targets and the toolchain pins."""

from __future__ import annotations

import platform

import pytest

from ppm import targets, toolchains
from ppm.targets import platform_name

# (platform.system(), platform.machine()) as each OS reports it.
SPELLINGS = [
    ("Linux", "x86_64", "linux-x86_64"),
    ("Linux", "amd64", "linux-x86_64"),
    ("Linux", "aarch64", "linux-aarch64"),
    ("Linux", "arm64", "linux-aarch64"),
    ("Darwin", "arm64", "macos-arm64"),  # Apple Silicon: the spelling targets/ uses
    ("Darwin", "x86_64", "macos-x86_64"),
    ("Windows", "AMD64", "windows-x86_64"),
    ("Windows", "ARM64", "windows-aarch64"),
]


@pytest.mark.parametrize("system, machine, expected", SPELLINGS, ids=[f"{s}-{m}" for s, m, _ in SPELLINGS])
def test_platform_name(system: str, machine: str, expected: str) -> None:
    assert platform_name(system, machine) == expected


@pytest.mark.parametrize("system, machine, expected", [s for s in SPELLINGS if s[2] in targets.TARGETS],
                         ids=lambda v: str(v))
def test_host_is_a_target_on_every_known_machine(monkeypatch: pytest.MonkeyPatch, system: str, machine: str,
                                                 expected: str) -> None:
    # Only this machine exists here: the other machines' answers are simulated by replacing
    # what the platform module reports (the bug this guards: macOS arm64 looked up "macos-aarch64").
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    targets.host_platform.cache_clear()
    try:
        assert targets.host().name == expected
        assert toolchains.host_platform() == expected  # one detection, shared
        assert targets.get("host") is targets.TARGETS[expected]
    finally:
        targets.host_platform.cache_clear()


def test_every_pin_platform_is_a_detectable_spelling() -> None:
    names = {expected for _, _, expected in SPELLINGS}
    for tool, plats in toolchains.PINS.items():
        assert set(plats) <= names, tool


def test_unknown_machine_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    targets.host_platform.cache_clear()
    try:
        with pytest.raises(LookupError, match=r"this machine \(linux-riscv64\) is not a known target"):
            targets.host()
    finally:
        targets.host_platform.cache_clear()
