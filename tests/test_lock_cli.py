"""The lock file format and the `ppm lock / add / remove / tree / why` commands, end to end
against the local registry server (run in-process through the typer app)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ppm.lockfile import model
from ppm.lockfile.errors import LockError
from registry_server import RegistryServer, cargo_crate, npm_package, pypi_project

MANIFEST = """\
# my app
[project]
name = "demo"
targets = ["linux-x86_64"]

[components.api]   # the Python side
builder = "pyinstaller"

[components.core]
builder = "cargo"

[dependencies.pypi]
app-lib = ">=1.0"  # keep this comment
"""


# -- the model ------------------------------------------------------------------------------


def sample() -> model.Lock:
    lk = model.Lock(manifest_digest="sha256:abc")
    lk.toolchains["zig"] = model.Toolchain("zig", "0.13.0", "pypi:ziglang", "sha256:00")
    lk.add(model.Package("npm", "@s/d", "1.0.0", "https://r/", ["ui", "*"], [], [model.Artifact("https://r/d.tgz", "sha512-xx==")],
                         extra={"paths": ["node_modules/@s/d"]}))
    lk.add(model.Package("pypi", "idna", "3.7", "https://p/", ["*"], ["npm:@s/d@1.0.0"],
                         [model.Artifact("https://p/b.whl", "sha256:bb"), model.Artifact("https://p/a.whl", "sha256:aa")]))
    return lk


def test_dump_is_deterministic_and_round_trips(tmp_path):
    text = model.dumps(sample())
    assert text == model.dumps(model.loads(text))
    assert text.index('[package."npm:@s/d@1.0.0"]') < text.index('[package."pypi:idna@3.7"]')
    assert text.index("a.whl") < text.index("b.whl")
    assert 'components = [\n  "*",\n  "ui",\n]' in text
    p = tmp_path / "ppm.lock"
    assert model.write(p, sample()) is True and model.write(p, sample()) is False
    assert model.read_manifest_digest(p) == "sha256:abc"
    assert not list(tmp_path.glob(".ppm.lock.*"))  # no temp file left behind


def test_malformed_lock_names_file_and_line(tmp_path):
    text = model.dumps(sample())
    bad = text.replace('version = "3.7"', "version = 3.7")
    with pytest.raises(LockError) as e:
        model.loads(bad, "ppm.lock")
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if text == '[package."pypi:idna@3.7"]')
    assert f"ppm.lock:{line}: package 'pypi:idna@3.7': missing string `version`" in str(e.value)
    with pytest.raises(LockError, match=r"ppm.lock:3:\d+: invalid TOML"):
        model.loads("version = 1\nmanifest-digest = ''\n[package\n", "ppm.lock")
    with pytest.raises(LockError, match=r"depends on 'npm:gone@1\.0\.0'"):
        model.loads(text.replace('dependencies = ["npm:@s/d@1.0.0"]', 'dependencies = ["npm:gone@1.0.0"]'))


# -- the commands ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    reg = tmp_path / "reg"
    pypi_project(reg, "app-lib", {"1.0": {"requires": ["idna>=3"]}, "1.1": {"requires": ["idna>=3"]}})
    pypi_project(reg, "idna", {"3.6": {}, "3.7": {}})
    pypi_project(reg, "httpx", {"0.26.0": {}, "0.27.0": {"requires": ["idna"]}})
    npm_package(reg, "preact", {"10.19.0": {}, "10.20.0": {}})
    cargo_crate(reg, "serde", [{"vers": "1.0.200", "features": {"default": ["std"], "std": [], "derive": []}}])
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "ppm.toml").write_text(MANIFEST)
    with RegistryServer(reg) as srv:
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("PPM_HTTP_RETRIES", "0")
        monkeypatch.chdir(proj)
        yield proj, srv, reg


def ppm(*args: str):
    import typer

    from ppm.cli import add, lock, remove, sync, tree, why

    app = typer.Typer()
    for command in (lock, add, remove, sync, tree, why):
        command.register(app)
    return CliRunner().invoke(app, list(args))


def test_lock_then_noop_then_check(project):
    proj, srv, reg = project
    r = ppm("lock")
    assert r.exit_code == 0, r.output
    assert "+ pypi:app-lib@1.1" in r.output and "+ pypi:idna@3.7" in r.output
    lk = model.read(proj / "ppm.lock")
    assert sorted(lk.packages) == ["pypi:app-lib@1.1", "pypi:idna@3.7"]
    n = len(srv.log)
    r = ppm("lock")
    assert r.output.strip() == "ppm.lock is up to date" and len(srv.log) == n  # no network at all
    assert ppm("lock", "--check").exit_code == 0
    (proj / "ppm.toml").write_text(MANIFEST.replace('app-lib = ">=1.0"', 'app-lib = "==1.0"'))
    r = ppm("lock", "--check")
    assert r.exit_code == 1 and "~ pypi:app-lib 1.1 -> 1.0" in r.output
    assert model.read(proj / "ppm.lock").packages.keys() == lk.packages.keys()  # --check writes nothing
    # What CI sees: the real command's exit status, not typer's in-process result.
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "ppm", "lock", "--check"], cwd=proj, capture_output=True, text=True)
    assert p.returncode == 1 and "~ pypi:app-lib 1.1 -> 1.0" in p.stdout, p.stdout + p.stderr


def test_locked_versions_are_kept_until_upgrade(project):
    proj, srv, reg = project
    (proj / "ppm.toml").write_text(MANIFEST.replace('app-lib = ">=1.0"', 'app-lib = ">=1.0"\nidna = "==3.6"'))
    assert ppm("lock").exit_code == 0
    (proj / "ppm.toml").write_text(MANIFEST)  # unpin idna: the lock keeps 3.6 ...
    assert ppm("lock").exit_code == 0
    assert "pypi:idna@3.6" in model.read(proj / "ppm.lock").packages
    r = ppm("lock", "--upgrade-package", "idna")  # ... until asked
    assert "~ pypi:idna 3.6 -> 3.7" in r.output


def test_add_edits_toml_preserving_comments(project):
    proj, srv, reg = project
    r = ppm("add", "pypi:httpx>=0.27", "npm:preact@^10", "cargo:serde@1", "--features", "derive", "--to", "core")
    assert r.exit_code == 0, r.output
    text = (proj / "ppm.toml").read_text()
    assert "# my app" in text and "# keep this comment" in text and "# the Python side" in text
    assert '[components.core.dependencies.pypi]\nhttpx = ">=0.27"' in text
    assert '[components.core.dependencies.cargo]\nserde = {version = "1", features = ["derive"]}' in text
    lk = model.read(proj / "ppm.lock")
    assert lk.packages["cargo:serde@1.0.200"].features == ["default", "derive", "std"]
    assert lk.packages["pypi:httpx@0.27.0"].components == ["core"]
    assert ppm("lock", "--check").exit_code == 0
    # no version: the newest, written as a requirement
    r = ppm("add", "npm:preact")
    assert '[dependencies.npm]\npreact = "^10.20.0"' in (proj / "ppm.toml").read_text()


def test_add_refuses_before_touching_anything(project):
    proj, srv, reg = project
    assert ppm("lock").exit_code == 0
    before = (proj / "ppm.toml").read_text(), (proj / "ppm.lock").read_text()
    r = ppm("add", "pypi:httpx>=9")
    assert r.exit_code != 0
    assert "cannot add pypi:httpx >=9" in str(r.exception) and "available: 0.26.0, 0.27.0" in str(r.exception)
    r = ppm("add", "npm:no-such-thing")
    assert "npm registry, package 'no-such-thing': no such package" in str(r.exception)
    assert ((proj / "ppm.toml").read_text(), (proj / "ppm.lock").read_text()) == before


def test_remove_tree_why(project):
    proj, srv, reg = project
    assert ppm("add", "pypi:httpx", "--to", "api").exit_code == 0
    r = ppm("tree")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["project", "└── app-lib 1.1", "    └── idna 3.7",
                                     "component api", "└── httpx 0.27.0", "    └── idna 3.7"]
    r = ppm("why", "idna")
    assert r.output.splitlines() == ["component api: httpx 0.27.0 -> idna 3.7", "project: app-lib 1.1 -> idna 3.7"]
    r = ppm("remove", "pypi:httpx", "--from", "api")
    assert r.exit_code == 0 and "- pypi:httpx@0.27.0" in r.output
    assert "httpx" not in (proj / "ppm.toml").read_text()


def test_try_noop_fast_path(project):
    from ppm.lockfile.project import try_noop

    proj, srv, reg = project
    assert try_noop([]) is None  # no lock yet: take the full path
    assert ppm("lock").exit_code == 0
    assert try_noop([]) == 0 and try_noop(["--upgrade"]) is None
    # --check is answered early only from this machine's record of a full check, never from the lock
    assert try_noop(["--check"]) is None
    assert ppm("lock", "--check").exit_code == 0
    assert try_noop(["--check"]) == 0
    (proj / "ppm.toml").write_text(MANIFEST + 'idna = "*"\n')
    assert try_noop([]) is None


def test_damaged_lock_is_never_up_to_date(project):
    # The header (manifest digest) survives a truncation or a botched merge: the no-op path must
    # still notice that the rest of the file is gone.
    proj, srv, reg = project
    assert ppm("add", "pypi:httpx", "--to", "api").exit_code == 0
    text = (proj / "ppm.lock").read_text()
    assert ppm("lock", "--check").exit_code == 0  # whole: up to date (and remembered)
    from ppm.lockfile.project import is_fresh

    for bad in (text[: len(text) // 2],  # cut mid-table
                text.replace('[package."pypi:idna@3.7"]', "<<<<<<< HEAD\n[package.\"pypi:idna@3.7\"]")):
        (proj / "ppm.lock").write_text(bad)
        assert not is_fresh(proj)
        r = ppm("lock", "--check")
        assert r.exit_code != 0 and "ppm.lock" in str(r.exception)
    # dropping a whole table that others depend on is caught too
    (proj / "ppm.lock").write_text(text.split('[package."pypi:idna@3.7"]')[0])
    assert not is_fresh(proj)
    (proj / "ppm.lock").write_text(text)
    assert is_fresh(proj) and ppm("lock").output.strip() == "ppm.lock is up to date"


def test_remove_finds_the_component_and_undoes_add(project):
    proj, srv, reg = project
    assert ppm("lock").exit_code == 0
    before = (proj / "ppm.toml").read_text()
    assert ppm("add", "pypi:httpx", "--to", "api").exit_code == 0
    assert ppm("add", "cargo:serde@1").exit_code == 0
    r = ppm("remove", "pypi:httpx")  # no --from: the one component that declares it
    assert r.exit_code == 0, r.output
    assert "removed pypi:httpx (from api)" in r.output and "- pypi:httpx@0.27.0" in r.output
    assert ppm("remove", "cargo:serde").exit_code == 0
    assert (proj / "ppm.toml").read_text() == before  # no empty tables left behind
    r = ppm("remove", "pypi:httpx")
    assert r.exit_code != 0 and "nor in any component's dependencies" in str(r.exception)
    r = ppm("remove", "httpx")
    assert r.exit_code != 0 and "name the ecosystem" in str(r.exception)
    # a table with a comment in it is the user's: kept
    (proj / "ppm.toml").write_text(before + "\n[dependencies.npm]\n# UI packages\npreact = \"^10\"\n")
    assert ppm("remove", "npm:preact").exit_code == 0
    assert "[dependencies.npm]\n# UI packages\n" in (proj / "ppm.toml").read_text()


def test_add_crate_to_a_component_that_is_not_rust_is_refused(project):
    proj, srv, reg = project
    before = (proj / "ppm.toml").read_text()
    r = ppm("add", "cargo:serde@1", "--to", "api")
    assert r.exit_code != 0
    assert "component 'api' is built by pyinstaller, which cannot use crates" in str(r.exception)
    assert "core" in r.exception.hint
    assert (proj / "ppm.toml").read_text() == before and not (proj / "ppm.lock").exists()
