"""`ppm sync` and `ensure_synced` against the local registry server: native lockfiles written into
the component directories, artifacts downloaded and verified, vendored layouts in place, a corrupt
download refused with nothing half-written, and the no-change path free of network."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from ppm.lockfile import sync
from ppm.lockfile.errors import HashMismatch, LockError
from registry_server import (
    RegistryServer,
    cargo_crate,
    go_module,
    maven_artifact,
    npm_package,
    pom,
    pypi_project,
)

MANIFEST = """\
[project]
name = "demo"
targets = ["linux-x86_64"]

[components.core]
builder = "cargo"

[components.ui]
builder = "esbuild"

[components.app]
builder = "pyinstaller"

[components.greeter]
builder = "graalvm"
main = "Greeter"

[components.core.dependencies.cargo]
serde = { version = "1", features = ["derive"] }

[dependencies.npm]
left-pad = "^1.1"

[components.app.dependencies.pypi]
app-lib = ">=1.0"

[dependencies.go]
"example.com/lib" = "v1.1.0"

[components.greeter.dependencies.maven]
"org.ex:api" = "1.0"
"""

CARGO_TOML = """\
# the core crate
[package]
name = "core-rs"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
"""


def universe(reg: Path) -> None:
    cargo_crate(reg, "serde", [{"vers": "1.0.200", "features": {"default": ["std"], "std": [], "derive": ["dep:serde_derive"]},
                                "deps": [{"name": "serde_derive", "req": "=1.0.200", "optional": True}]}])
    cargo_crate(reg, "serde_derive", [{"vers": "1.0.200"}])
    npm_package(reg, "left-pad", {"1.1.0": {"is-number": "^7.0.0"}, "1.3.0": {"is-number": "^7.0.0"}})
    npm_package(reg, "is-number", {"7.0.0": {}})
    pypi_project(reg, "app-lib", {"1.0": {"requires": ["idna>=3"]}, "1.1": {"requires": ["idna>=3", "pywin; sys_platform == 'win32'"]}})
    pypi_project(reg, "idna", {"3.6": {}, "3.7": {}})
    go_module(reg, "example.com/lib", {"v1.0.0": [], "v1.1.0": ["example.com/dep v1.0.0"]})
    go_module(reg, "example.com/dep", {"v1.0.0": [], "v1.2.0": []})
    maven_artifact(reg, "org.ex", "api", {"1.0": pom("org.ex", "api", "1.0", "<dependency><groupId>org.ex</groupId>"
                                                     "<artifactId>core</artifactId><version>2.0</version></dependency>")})
    maven_artifact(reg, "org.ex", "core", {"2.0": pom("org.ex", "core", "2.0")})


@pytest.fixture
def project(tmp_path, monkeypatch):
    reg = tmp_path / "reg"
    universe(reg)
    proj = tmp_path / "proj"
    for d in ("core/src", "ui/src", "app", "greeter"):
        (proj / d).mkdir(parents=True)
    (proj / "ppm.toml").write_text(MANIFEST)
    (proj / "core/Cargo.toml").write_text(CARGO_TOML)
    (proj / "core/src/lib.rs").write_text("")
    (proj / "ui/src/main.ts").write_text("import pad from 'left-pad';\nconsole.log(pad);\n")
    (proj / "app/main.py").write_text("import app_lib\n")
    with RegistryServer(reg) as srv:
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("PPM_HTTP_RETRIES", "0")
        monkeypatch.chdir(proj)
        from ppm.lockfile import project as lock_project

        lock_project.lock(proj)
        yield proj, srv, reg


def test_sync_writes_every_native_world(project):
    proj, srv, reg = project
    result = sync.sync(proj)
    assert len(result.lines) == 5, result.lines
    # cargo: Cargo.toml gets the managed dependency, Cargo.lock v4 with checksums, crates vendored
    ct = (proj / "core/Cargo.toml").read_text()
    assert ct.startswith("# the core crate") and 'serde = {version = "1", features = ["derive"]}' in ct
    cl = tomllib.loads((proj / "core/Cargo.lock").read_text())
    assert cl["version"] == 4
    names = {p["name"]: p for p in cl["package"]}
    assert names["core-rs"]["dependencies"] == ["serde"] and "source" not in names["core-rs"]
    assert names["serde"]["source"] == "registry+https://github.com/rust-lang/crates.io-index" and len(names["serde"]["checksum"]) == 64
    assert names["serde"]["dependencies"] == ["serde_derive"]
    v = proj / ".ppm/vendor/cargo/serde-1.0.200"
    ck = json.loads((v / ".cargo-checksum.json").read_text())
    assert ck["package"] == names["serde"]["checksum"] and "Cargo.toml" in ck["files"]
    args = sync.cargo_args(proj, "core")
    assert args[0] == "--offline" and any("replace-with" in a for a in args)
    # npm: package.json, package-lock.json v3, node_modules from the verified tarballs
    pj = json.loads((proj / "ui/package.json").read_text())
    assert pj["dependencies"] == {"left-pad": "^1.1"}
    pl = json.loads((proj / "ui/package-lock.json").read_text())
    assert pl["lockfileVersion"] == 3 and pl["packages"][""]["dependencies"] == {"left-pad": "^1.1"}
    lp = pl["packages"]["node_modules/left-pad"]
    assert lp["version"] == "1.3.0" and lp["integrity"].startswith("sha512-") and lp["resolved"].endswith("left-pad-1.3.0.tgz")
    assert lp["dependencies"] == {"is-number": "^7.0.0"}
    assert json.loads((proj / "ui/node_modules/is-number/package.json").read_text())["version"] == "7.0.0"
    # pypi: pylock.toml (PEP 751, checked by packaging's own validator) and hashed requirements; installed
    from packaging.pylock import Pylock

    pyl = Pylock.from_dict(tomllib.loads((proj / "app/pylock.toml").read_text()))
    assert sorted(p.name for p in pyl.packages) == ["app-lib", "idna"]
    req = (proj / "app/requirements-locked.txt").read_text()
    assert "app-lib==1.1 \\\n    --hash=sha256:" in req and "idna==3.7" in req
    site = proj / ".ppm/vendor/pypi/app/site"
    assert (site / "app_lib/__init__.py").read_text() == "__version__ = '1.1'\n"
    assert sync.python_paths(proj, "app") == ["{project}/.ppm/vendor/pypi/app/site"]
    # go: no go component, so the project's own world under .ppm/sync/project/go
    gm = (proj / ".ppm/sync/project/go/go.mod").read_text()
    assert "require (\n\texample.com/lib v1.1.0\n)" in gm and "example.com/dep v1.0.0 // indirect" in gm
    gs = (proj / ".ppm/sync/project/go/go.sum").read_text().splitlines()
    assert [line.split()[:2] for line in gs] == [["example.com/dep", "v1.0.0"], ["example.com/dep", "v1.0.0/go.mod"],
                                           ["example.com/lib", "v1.1.0"], ["example.com/lib", "v1.1.0/go.mod"]]
    assert (proj / ".ppm/vendor/go/example.com/lib/@v/v1.1.0.zip").is_file()
    # maven: the pinned list and the jars in a repository layout
    ml = (proj / "greeter/maven-dependencies.txt").read_text()
    assert "org.ex:api:jar:1.0 sha256:" in ml and "org.ex:core:jar:2.0 sha256:" in ml
    assert len(sync.maven_classpath(proj, "greeter")) == 2
    assert sync.is_synced(proj)


def test_ensure_synced_is_a_digest_compare_when_nothing_changed(project):
    from ppm.core import manifest

    proj, srv, reg = project
    m = manifest.load(proj)
    sync.ensure_synced(proj, m)
    n = len(srv.log)
    before = {p: p.stat().st_mtime_ns for p in proj.rglob("*.lock")}
    sync.ensure_synced(proj, m)
    assert len(srv.log) == n and {p: p.stat().st_mtime_ns for p in proj.rglob("*.lock")} == before
    # the lock changes: the next build syncs by itself
    (proj / "ppm.toml").write_text(MANIFEST.replace('left-pad = "^1.1"', 'left-pad = "~1.1.0"'))
    with pytest.raises(LockError, match="out of date"):
        sync.ensure_synced(proj, manifest.load(proj))
    from ppm.lockfile import project as lock_project

    lock_project.lock(proj)
    sync.ensure_synced(proj, manifest.load(proj))
    assert json.loads((proj / "ui/package-lock.json").read_text())["packages"]["node_modules/left-pad"]["version"] == "1.1.0"
    assert json.loads((proj / "ui/node_modules/left-pad/package.json").read_text())["version"] == "1.1.0"


def test_corrupt_download_names_package_and_changes_nothing(project):
    proj, srv, reg = project
    srv.tamper.add("/npm/is-number/-/is-number-7.0.0.tgz")
    with pytest.raises(HashMismatch) as e:
        sync.sync(proj)
    msg = str(e.value)
    assert "npm package is-number 7.0.0 from http://127.0.0.1" in msg and "does not match ppm.lock" in msg
    assert not (proj / "ui/package-lock.json").exists() and not (proj / "core/Cargo.lock").exists()
    assert not (proj / "ui/node_modules").exists() and not (proj / ".ppm/vendor").exists()
    assert "serde" not in (proj / "core/Cargo.toml").read_text()


def test_unmanaged_native_dependency_is_refused(project):
    proj, srv, reg = project
    (proj / "core/Cargo.toml").write_text(CARGO_TOML + 'rand = "0.8"\n')
    with pytest.raises(LockError, match=r"core/Cargo.toml \[dependencies\] names 'rand', which ppm.toml does not declare"):
        sync.sync(proj)


def test_offline_sync_uses_the_store(project):
    proj, srv, reg = project
    sync.sync(proj)
    from ppm.core.fsutil import rmtree

    rmtree(proj / ".ppm/vendor")
    rmtree(proj / "ui/node_modules")
    n = len(srv.log)
    sync.sync(proj, offline=True)
    assert len(srv.log) == n and (proj / "ui/node_modules/left-pad").is_dir()


def test_no_dependencies_no_lock_is_a_noop(tmp_path):
    from ppm.core import manifest

    (tmp_path / "ppm.toml").write_text('[project]\nname = "x"\n')
    sync.ensure_synced(tmp_path, manifest.load(tmp_path))
    assert not (tmp_path / ".ppm").exists()
    (tmp_path / "ppm.toml").write_text('[project]\nname = "x"\n[dependencies.npm]\na = "1"\n')
    with pytest.raises(LockError, match=r"no ppm\.lock"):
        sync.ensure_synced(tmp_path, manifest.load(tmp_path))


# -- the native tools accept what sync wrote (in their locked modes; local server only) -----


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    import os
    import subprocess

    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def _need(tool: str) -> None:
    import shutil

    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def test_cargo_accepts_lock_and_vendored_crates(project, tmp_path):
    _need("cargo")
    proj, srv, reg = project
    sync.sync(proj)
    before = (proj / "core/Cargo.lock").read_text()
    args = [a.replace("{project}", str(proj)) for a in sync.cargo_args(proj, "core")]
    env = {"CARGO_HOME": str(tmp_path / "cargo-home"), "CARGO_TARGET_DIR": str(tmp_path / "target")}
    meta = json.loads(_run(["cargo", "metadata", "--locked", "--format-version", "1", *args], proj / "core", env))
    assert sorted(p["name"] for p in meta["packages"]) == ["core-rs", "serde", "serde_derive"]
    _run(["cargo", "build", "--locked", *args], proj / "core", env)
    assert (proj / "core/Cargo.lock").read_text() == before  # cargo did not want to change a byte


def test_npm_ci_accepts_package_lock(project, tmp_path):
    _need("npm")
    proj, srv, reg = project
    sync.sync(proj)
    from ppm.core.fsutil import rmtree

    ours = sorted(p.relative_to(proj / "ui/node_modules").as_posix() for p in (proj / "ui/node_modules").rglob("*") if p.is_file())
    rmtree(proj / "ui/node_modules")
    _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", f"--registry={srv.base}/npm/",
          f"--cache={tmp_path / 'npm-cache'}"], proj / "ui", {"npm_config_userconfig": str(tmp_path / "npmrc")})
    theirs = sorted(p.relative_to(proj / "ui/node_modules").as_posix() for p in (proj / "ui/node_modules").rglob("*")
                    if p.is_file() and p.name != ".package-lock.json")
    assert theirs == ours  # npm ci lays out exactly the tree sync installed


def test_pip_require_hashes_accepts_requirements(project, tmp_path):
    import sys

    proj, srv, reg = project
    sync.sync(proj)
    _run([sys.executable, "-m", "pip", "install", "--isolated", "--require-hashes", "--no-deps", "--target", str(tmp_path / "t"),
          "-r", "requirements-locked.txt", "--disable-pip-version-check"], proj / "app")
    assert (tmp_path / "t/app_lib/__init__.py").is_file()


def test_go_verifies_and_builds_readonly(project, tmp_path):
    _need("go")
    proj, srv, reg = project
    sync.sync(proj)
    g = proj / ".ppm/sync/project/go"
    (g / "main.go").write_text('package main\n\nimport _ "example.com/lib"\n\nfunc main() {}\n')
    env = {"GOPROXY": f"{srv.base}/go/", "GOSUMDB": "off", "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local",
           "GOMODCACHE": str(tmp_path / "gomod"), "GOPATH": str(tmp_path / "gopath")}
    _run(["go", "mod", "download"], g, env)
    assert "all modules verified" in _run(["go", "mod", "verify"], g, env)
    assert _run(["go", "list", "-m", "all"], g, env).split()[1:] == ["example.com/dep", "v1.0.0", "example.com/lib", "v1.1.0"]
    # and from the synced module tree alone, as a go builder would
    env.update({k: v.replace("{project}", str(proj)) for k, v in sync.go_env(proj, None).items()} or
               {"GOPROXY": f"file://{proj}/.ppm/vendor/go"})
    env["GOMODCACHE"] = str(tmp_path / "gomod2")
    _run(["go", "build", "./..."], g, env)


def test_builders_plan_locked_mode_after_sync(project):
    from ppm import targets
    from ppm.build.plan import synced_for
    from ppm.builders import REGISTRY, check_manifest
    from ppm.builders.base import PlanContext
    from ppm.core import manifest

    proj, srv, reg = project
    m = check_manifest(manifest.load(proj))

    def plan(name: str):  # noqa: ANN202
        # What the planner hands a builder: the sync state reaches it through the context.
        c = m.components[name]
        ctx = PlanContext(root=proj, target=targets.host(), deps={}, synced=synced_for(proj, name))
        return REGISTRY[c.builder]().plan(c, ctx)

    with pytest.raises(Exception, match=r"core/Cargo\.lock is missing"):
        plan("core")
    sync.ensure_synced(proj, m)
    argv = plan("core")[0].commands[0]
    assert list(argv[argv.index("--locked") + 1:][:5]) == ["--offline", "--config", 'source.crates-io.replace-with="ppm-vendor"',
                                                     "--config", 'source.ppm-vendor.directory="{project}/.ppm/vendor/cargo"']
    assert not any(str(proj) in w for w in argv)  # no absolute paths reach the action key
    assert "ui/package-lock.json" in plan("ui")[0].inputs
    app = plan("app")[0]
    assert "{project}/.ppm/vendor/pypi/app/site" in app.commands[-1] and "app/requirements-locked.txt" in app.inputs


def test_removing_the_last_dependency_unmanages_it(project):
    proj, srv, reg = project
    sync.sync(proj)
    from ppm.lockfile import project as lock_project

    lock_project.remove(proj, ["cargo:serde"], from_component="core")
    sync.sync(proj)
    assert "serde" not in (proj / "core/Cargo.toml").read_text()
    cl = tomllib.loads((proj / "core/Cargo.lock").read_text())
    assert [p["name"] for p in cl["package"]] == ["core-rs"]


def test_sync_command(project):
    from typer.testing import CliRunner

    from ppm.cli.app import app

    proj, srv, reg = project
    r = CliRunner().invoke(app, ["sync", "--check"])
    assert r.exit_code == 1 and "not in sync" in r.output
    r = CliRunner().invoke(app, ["sync"])
    assert r.exit_code == 0, r.output
    assert "component 'core', cargo: Cargo.lock; 2 crates vendored" in r.output and "wrote core/Cargo.lock" in r.output
    assert CliRunner().invoke(app, ["sync", "--check"]).exit_code == 0
