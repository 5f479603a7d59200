"""An output name from ppm.toml (`lib`, `exe`, `outfile`) is one file name: '../../x' or '/abs'
would place a build output outside the project. Refused with the TOML key named."""

from __future__ import annotations

import dataclasses

import pytest
from ppm.builders import REGISTRY
from ppm.builders.base import PlanContext
from ppm.templates import create

from ppm import targets
from ppm.core.errors import ManifestError
from ppm.core.manifest import Manifest, load

SETTING = {"cc": "lib", "zig": "lib", "esbuild": "outfile", "graalvm": "exe", "pyinstaller": "exe"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load(create(tmp_path_factory.mktemp("p") / "demo"))


@pytest.mark.parametrize("value", ["../../x", "/tmp/abs", "a/b", ".."], ids=repr)
@pytest.mark.parametrize("builder", sorted(SETTING))
def test_output_names_outside_are_refused(project, builder, value):
    c = next(c for c in project.components.values() if c.builder == builder)
    key = SETTING[builder]
    bad = dataclasses.replace(c, settings={**c.settings, key: value})
    ctx = PlanContext(root=project.root, target=targets.host(), deps={n: ["x"] for n in c.needs})
    with pytest.raises(ManifestError, match=rf"components\.{c.name}\.{key} = "):
        REGISTRY[builder]().plan(bad, ctx)
