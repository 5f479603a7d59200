"""The native parts of ppm: optional C extensions, each with a pure-Python fallback that stays the
reference (the project's metadata is in pyproject.toml). ``optional=True``: a machine without a C
compiler still installs ppm, on the fallbacks. PPM_NO_NATIVE=1 builds none (and ppm then uses none);
the tests fail when a module is missing without it (tests/test_delta_exe.py for ppm._xform,
tests/test_hpatch.py for ppm._hpatch)."""

import os

from setuptools import Extension, setup

NATIVE = os.environ.get("PPM_NO_NATIVE") != "1"

setup(
    ext_modules=[
        Extension("ppm._xform", ["ppm/_xform.c"], optional=True),
        Extension("ppm._hpatch", ["ppm/_hpatch.c"], optional=True),
    ]
    if NATIVE
    else [],
)
