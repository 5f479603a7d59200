"""Property-based fuzzing (hypothesis) of what ppm reads from a repository: ppm.lock and ppm.toml.
For any input the outcome is a value or one PpmError with a message, never another exception
(which the CLI would report as an internal error)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppm.core import manifest as manifest_mod
from ppm.core.errors import PpmError
from ppm.lockfile import model

VALID_LOCK = """\
# This file is written by `ppm lock`; edit ppm.toml instead.
version = 1
manifest-digest = "sha256:00"

[toolchain.zig]
version = "0.13.0"
source = "pypi:ziglang"
digest = "sha256:11"

[toolchain.zig.platform.linux-x86_64]
binary = "ziglang/zig"
kind = "zip"
package = "ziglang"
registry = "pypi"
artifacts = [
  { path = "packages/z.whl", hash = "sha256:2222222222222222222222222222222222222222222222222222222222222222", size = 3 },
]

[package."npm:is-number@7.0.0"]
ecosystem = "npm"
name = "is-number"
version = "7.0.0"
source = "https://registry.npmjs.org/"
components = ["*"]
dependencies = []
paths = ["node_modules/is-number"]
artifacts = [
  { url = "https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz", hash = "sha512-AA==" },
]

[package."npm:left-pad@1.3.0"]
ecosystem = "npm"
name = "left-pad"
version = "1.3.0"
source = "https://registry.npmjs.org/"
components = ["*"]
dependencies = ["npm:is-number@7.0.0"]
paths = ["node_modules/left-pad"]
artifacts = []
"""

VALID_MANIFEST = """\
[project]
name = "demo"
targets = ["linux-x86_64"]

[components.core]
builder = "cargo"

[components.ui]
builder = "esbuild"
needs = ["core"]

[dependencies.npm]
left-pad = "^1.1"

[components.core.dependencies.cargo]
serde = { version = "1", features = ["derive"] }
"""

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# TOML values of any shape, to put where ppm expects tables, strings or lists
scalars = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.floats(allow_nan=False), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _toml(doc: dict) -> str | None:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [clean(x) for x in v if x is not None]
        return v

    try:
        return tomlkit.dumps(clean(doc))
    except Exception:  # a shape tomlkit will not write (mixed arrays and such): not an input
        return None


def _lock_outcome(text: str) -> None:
    try:
        model.loads(text, "ppm.lock")
    except PpmError as e:
        assert str(e).strip(), "an error without a message"


@FUZZ
@given(st.text(max_size=400))
def test_lock_any_text(text: str) -> None:
    _lock_outcome(text)


@FUZZ
@given(st.data())
def test_lock_mutations_of_a_valid_lock(data: st.DataObject) -> None:
    text = VALID_LOCK
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 40)))
        text = text[:i] + data.draw(st.sampled_from(["", "[", "]", '"', "=", "\n", "x", "1", "../", "{", "}", ","])) + text[j:]
    _lock_outcome(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(["version", "manifest-digest", "package", "toolchain", "x"]), values, max_size=4),
       st.dictionaries(st.text(max_size=20), st.dictionaries(
           st.sampled_from(["ecosystem", "name", "version", "source", "components", "dependencies", "artifacts", "paths",
                            "features"]), values, max_size=9), max_size=3))
def test_lock_structured(top: dict, packages: dict) -> None:
    doc = {**top, "version": 1, "package": packages}
    text = _toml(doc)
    if text is not None:
        _lock_outcome(text)


def test_lock_valid_fixture_parses() -> None:
    lk = model.loads(VALID_LOCK)
    assert sorted(lk.packages) == ["npm:is-number@7.0.0", "npm:left-pad@1.3.0"]


def test_lock_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "ppm.lock").write_bytes(b"version = 1\n\xff\xfe")
    with pytest.raises(PpmError, match="not UTF-8"):
        model.read(tmp_path / "ppm.lock")


def _manifest_outcome(root: Path, text: str) -> None:
    (root / "ppm.toml").write_text(text, encoding="utf-8")
    try:
        manifest_mod.load(root)
    except PpmError as e:
        assert str(e).strip()


@pytest.fixture(scope="module")
def mroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("m")
    for d in ("core", "ui"):
        (root / d).mkdir()
    return root


@FUZZ
@given(text=st.text(max_size=400))
def test_manifest_any_text(mroot: Path, text: str) -> None:
    _manifest_outcome(mroot, text)


@FUZZ
@given(data=st.data())
def test_manifest_mutations(mroot: Path, data: st.DataObject) -> None:
    text = VALID_MANIFEST
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 30)))
        piece = data.draw(st.sampled_from(["", "[", "]", '"', "=", "\n", "x", "1", "../", "{", "}", ",", "/abs"]))
        text = text[:i] + piece + text[j:]
    _manifest_outcome(mroot, text)


@FUZZ
@given(project=st.dictionaries(st.sampled_from(["name", "targets", "version", "x"]), values, max_size=3),
       comps=st.dictionaries(st.sampled_from(["core", "ui", "../x", ""]), st.dictionaries(
           st.sampled_from(["builder", "path", "needs", "optional", "dependencies", "lib", "outfile"]), values, max_size=5),
           max_size=2),
       deps=st.dictionaries(st.sampled_from(["npm", "cargo", "pypi", "go", "maven", "bogus"]),
                            st.dictionaries(st.text(max_size=10), values, max_size=2), max_size=2))
def test_manifest_structured(mroot: Path, project: dict, comps: dict, deps: dict) -> None:
    text = _toml({"project": project, "components": comps, "dependencies": deps})
    if text is not None:
        tomllib.loads(text)
        _manifest_outcome(mroot, text)
