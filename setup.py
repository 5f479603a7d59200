"""The optional C extensions; everything else about the project is in pyproject.toml.

Each module has a pure-Python fallback (ppm.delta falls back to the hdiffpatch package), so a
machine without a C compiler still installs ppm (``optional=True``): tests/test_hpatch.py fails
when the module is missing unless PPM_NO_NATIVE=1 says the fallback is meant.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("ppm._hpatch", ["ppm/_hpatch.c"], optional=True),
    ],
)
