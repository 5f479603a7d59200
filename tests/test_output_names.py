"""An output name from ppm.toml (`lib`, `exe`, `outfile`) is one file name: '../../x' or '/abs'
would place a build output outside the project. Refused with the TOML key named."""

from __future__ import annotations

import dataclasses

import pytest

from ppm import targets
from ppm.builders import REGISTRY, check_manifest
from ppm.builders.base import PlanContext
from ppm.core.errors import ManifestError
from ppm.core.manifest import Manifest, load
from ppm.templates import create

SETTING = {"cc": "lib", "zig": "lib", "esbuild": "outfile", "graalvm": "exe", "pyinstaller": "exe"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return check_manifest(load(create(tmp_path_factory.mktemp("p") / "demo")))


@pytest.mark.parametrize("value", ["../../x", "/tmp/abs", "a/b", ".."], ids=repr)
@pytest.mark.parametrize("builder", sorted(SETTING))
def test_output_names_outside_are_refused(project, builder, value):
    c = next(c for c in project.components.values() if c.builder == builder)
    key = SETTING[builder]
    bad = dataclasses.replace(c, settings={**c.settings, key: value})
    ctx = PlanContext(root=project.root, target=targets.host(), deps={n: ["x"] for n in c.needs})
    with pytest.raises(ManifestError, match=rf"components\.{c.name}\.{key} = "):
        REGISTRY[builder]().plan(bad, ctx)


def test_source_file_name_not_utf8_is_named(tmp_path):
    proj = tmp_path / "nu"
    (proj / "lib" / "src").mkdir(parents=True)
    (proj / "ppm.toml").write_text('[project]\nname = "nu"\n\n[components.lib]\nbuilder = "cc"\nkind = "static"\n')
    (proj / "lib" / "src" / "a.c").write_text("int f(void) { return 1; }\n")
    with open(bytes(proj / "lib" / "src") + b"/\xff.c", "w") as f:
        f.write("int g(void) { return 2; }\n")
    m = check_manifest(load(proj))
    c = m.components["lib"]
    with pytest.raises(ManifestError, match=r"src/\\xff\.c: the file name is not valid UTF-8"):
        REGISTRY["cc"]().plan(c, PlanContext(root=proj, target=targets.host(), deps={}))
