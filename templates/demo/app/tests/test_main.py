"""Tests of the Python host, run by `ppm test app` with pytest: the components it needs are
built first and laid out as the bundle holds them (PPM_BUNDLE_DIR), so main.py loads the
same libraries it loads when frozen."""

from __future__ import annotations

import main


def test_every_embedded_component_answers() -> None:
    bundle = main.Bundle.load(main.bundle_dir())
    assert {"core", "cmath", "zigz", "ui"} <= set(bundle.embedded)
    assert main.self_check(bundle) == 0


def test_rust_and_c_through_ctypes() -> None:
    bundle = main.Bundle.load(main.bundle_dir())
    assert main.rust(bundle).startswith("fibonacci(20) = 6765")
    assert "gcd(1071, 462) = 21" in main.c(bundle)
