"""Against the real registries (run with `pytest -m live tests/test_lock_live.py`).

(a) ppm locks real dependency sets and the native resolvers, run here in the same test, choose
    the same versions; a difference fails unless it is listed with its documented reason.
(b) the native lockfiles `ppm sync` exports are accepted by the native tools in locked mode.

Each ecosystem's test skips when its native tool is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ppm.lockfile import model, sync
from ppm.lockfile import project as lock_project

pytestmark = pytest.mark.live

MANIFEST = """\
[project]
name = "live"
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
optional = true

[components.core.dependencies.cargo]
serde = { version = "1", features = ["derive"] }
regex = "1"
anyhow = "1"
clap = { version = "4", features = ["derive"] }

[components.ui.dependencies.npm]
preact = "^10"
express = "^4"
chalk = "^5"
commander = "^12"

[components.app.dependencies.pypi]
httpx = ">=0.27"
rich = ">=13"
click = ">=8"
pydantic = ">=2"
requests = "*"

[dependencies.go]
"github.com/google/uuid" = "v1.6.0"
"golang.org/x/text" = "v0.14.0"
"github.com/spf13/cobra" = "v1.8.0"

[components.greeter.dependencies.maven]
"com.google.guava:guava" = "33.0.0-jre"
"org.slf4j:slf4j-api" = "2.0.13"
"com.fasterxml.jackson.core:jackson-databind" = "2.17.0"
"""

CARGO_TOML = '[package]\nname = "core-rs"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\npath = "src/lib.rs"\n\n[dependencies]\n'

# Differences from the native resolvers that are documented, not bugs: (ecosystem, name) -> reason.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("live")
    proj = tmp / "proj"
    for d in ("core/src", "ui/src", "app", "greeter"):
        (proj / d).mkdir(parents=True)
    (proj / "ppm.toml").write_text(MANIFEST)
    (proj / "core/Cargo.toml").write_text(CARGO_TOML)
    (proj / "core/src/lib.rs").write_text("")
    mp = pytest.MonkeyPatch()
    for k in list(os.environ):
        if k.startswith("PPM_REGISTRY_"):
            mp.delenv(k)
    mp.setenv("PPM_CACHE_DIR", str(tmp / "cache"))
    lock_project.lock(proj)
    sync.sync(proj)
    yield proj, model.read(proj / "ppm.lock"), tmp
    mp.undo()


def compare(eco: str, ours: dict[str, set[str]], theirs: dict[str, set[str]]) -> None:
    diffs = []
    for name in sorted(set(ours) | set(theirs)):
        if ours.get(name, set()) != theirs.get(name, set()) and (eco, name) not in KNOWN_DIFFERENCES:
            diffs.append(f"{name}: ppm {sorted(ours.get(name, set())) or '-'} vs native {sorted(theirs.get(name, set())) or '-'}")
    assert not diffs, f"{eco}: ppm and the native resolver differ:\n  " + "\n  ".join(diffs)


def versions(lk: model.Lock, eco: str, component: str | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in lk.by_ecosystem(eco):
        if component is None or component in p.components or "*" in p.components:
            out.setdefault(p.name, set()).add(p.version)
    return out


# -- PyPI -------------------------------------------------------------------------------------


def test_pypi_matches_pip_and_pip_accepts_hashes(live):
    proj, lk, tmp = live
    reqs = ["httpx>=0.27", "rich>=13", "click>=8", "pydantic>=2", "requests"]
    report = tmp / "pip-report.json"
    run([sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
         "--only-binary", ":all:", "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--platform", "linux_x86_64",
         "--target", str(tmp / "pip-target"), "--disable-pip-version-check", *reqs], tmp)
    theirs: dict[str, set[str]] = {}
    for item in json.loads(report.read_text())["install"]:
        from packaging.utils import canonicalize_name

        theirs.setdefault(canonicalize_name(item["metadata"]["name"]), set()).add(item["metadata"]["version"])
    compare("pypi", versions(lk, "pypi"), theirs)
    # (b) pip's locked mode: every requirement pinned and hashed, dependencies included
    run([sys.executable, "-m", "pip", "install", "--isolated", "--require-hashes", "--dry-run", "--ignore-installed", "--quiet",
         "--only-binary", ":all:", "--target", str(tmp / "pip-target2"), "--disable-pip-version-check",
         "-r", "requirements-locked.txt"], proj / "app")


# -- npm --------------------------------------------------------------------------------------


def test_npm_matches_npm_and_npm_ci_accepts(live):
    need("npm")
    proj, lk, tmp = live
    d = tmp / "npm-native"
    d.mkdir()
    (d / "package.json").write_text(json.dumps({"name": "ui", "version": "0.0.0", "dependencies":
                                                {"preact": "^10", "express": "^4", "chalk": "^5", "commander": "^12"}}))
    env = {"npm_config_cache": str(tmp / "npm-cache"), "npm_config_registry": "https://registry.npmjs.org/"}
    run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], d, env)
    native = json.loads((d / "package-lock.json").read_text())["packages"]
    ours = json.loads((proj / "ui/package-lock.json").read_text())["packages"]
    theirs_v: dict[str, set[str]] = {}
    for path, e in native.items():
        if path:
            theirs_v.setdefault(path.rsplit("node_modules/", 1)[1], set()).add(e["version"])
    compare("npm", versions(lk, "npm", "ui"), theirs_v)
    # the placement too: the same node_modules paths
    assert sorted(p for p in ours if p) == sorted(p for p in native if p)
    # (b) npm ci installs from ppm's package-lock.json
    shutil.rmtree(proj / "ui/node_modules")
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], proj / "ui", env)


# -- Cargo ------------------------------------------------------------------------------------


def test_cargo_matches_generate_lockfile_and_cargo_accepts(live):
    need("cargo")
    proj, lk, tmp = live
    d = tmp / "cargo-native"
    (d / "src").mkdir(parents=True)
    (d / "src/lib.rs").write_text("")
    (d / "Cargo.toml").write_text(CARGO_TOML + 'serde = { version = "1", features = ["derive"] }\nregex = "1"\nanyhow = "1"\n'
                                  'clap = { version = "4", features = ["derive"] }\n')
    env = {"CARGO_HOME": str(tmp / "cargo-home")}
    run(["cargo", "generate-lockfile"], d, env)
    theirs: dict[str, set[str]] = {}
    for p in tomllib.loads((d / "Cargo.lock").read_text())["package"]:
        if p.get("source"):
            theirs.setdefault(p["name"], set()).add(p["version"])
    compare("cargo", versions(lk, "cargo", "core"), theirs)
    # (b) cargo's locked mode on ppm's Cargo.lock: fetch, then metadata offline; and the vendored build
    before = (proj / "core/Cargo.lock").read_text()
    run(["cargo", "fetch", "--locked"], proj / "core", env)
    run(["cargo", "metadata", "--locked", "--offline", "--format-version", "1"], proj / "core", env)
    args = [a.replace("{project}", str(proj)) for a in sync.cargo_args(proj, "core")]
    run(["cargo", "metadata", "--locked", "--format-version", "1", *args], proj / "core", {"CARGO_HOME": str(tmp / "cargo-home-2")})
    assert (proj / "core/Cargo.lock").read_text() == before


# -- Go ---------------------------------------------------------------------------------------


def test_go_matches_go_list_and_go_mod_verify(live):
    need("go")
    proj, lk, tmp = live
    d = tmp / "go-native"
    d.mkdir()
    (d / "go.mod").write_text("module live\n\ngo 1.21\n\nrequire (\n\tgithub.com/google/uuid v1.6.0\n\tgolang.org/x/text v0.14.0\n"
                              "\tgithub.com/spf13/cobra v1.8.0\n)\n")
    env = {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOPATH": str(tmp / "gopath"), "GOMODCACHE": str(tmp / "gomod")}
    out = run(["go", "list", "-m", "all"], d, env)
    theirs: dict[str, set[str]] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            theirs.setdefault(parts[0], set()).add(parts[1])
    ours = versions(lk, "go")
    # Documented difference: ppm's go.mod lists every module of the build list (direct, and the
    # rest `// indirect`), and the go command reads the go.mod of every module go.mod lists; a
    # go.mod listing only the direct requirements leaves those of pruned modules unread
    # (https://go.dev/ref/mod#graph-pruning). So ppm may hold more modules, never other versions.
    extra = {m for m in set(ours) - set(theirs)}
    compare("go", {m: v for m, v in ours.items() if m not in extra}, theirs)
    # (b) the exported go.mod/go.sum: go selects exactly the locked versions from it, in readonly
    # mode (nothing to add), downloads and verifies every module against go.sum
    g = proj / ".ppm/sync/project/go"
    env = {"GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local", "GOPATH": str(tmp / "gopath"), "GOMODCACHE": str(tmp / "gomod")}
    listed: dict[str, set[str]] = {}
    for line in run(["go", "list", "-m", "all"], g, env).splitlines()[1:]:
        listed.setdefault(line.split()[0], set()).add(line.split()[1])
    compare("go", ours, listed)
    run(["go", "mod", "download"], g, env)
    assert "all modules verified" in run(["go", "mod", "verify"], g, env)


# -- Maven ------------------------------------------------------------------------------------


def test_maven_matches_dependency_list(live):
    need("mvn")
    proj, lk, tmp = live
    d = tmp / "mvn-native"
    d.mkdir()
    deps = "".join(f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
                   for g, a, v in (("com.google.guava", "guava", "33.0.0-jre"), ("org.slf4j", "slf4j-api", "2.0.13"),
                                   ("com.fasterxml.jackson.core", "jackson-databind", "2.17.0")))
    (d / "pom.xml").write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                               f"<groupId>live</groupId><artifactId>live</artifactId><version>0</version><dependencies>{deps}"
                               "</dependencies></project>")
    run(["mvn", "-B", "-q", "dependency:list", "-DoutputFile=deps.txt", "-DincludeScope=runtime"], d, timeout=900)
    theirs: dict[str, set[str]] = {}
    for line in (d / "deps.txt").read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 5:
            theirs.setdefault(f"{parts[0]}:{parts[1]}", set()).add(parts[3])
    compare("maven", versions(lk, "maven", "greeter"), theirs)
    # the exported list pins exactly these
    listed = {line.split()[0] for line in (proj / "greeter/maven-dependencies.txt").read_text().splitlines() if not line.startswith("#")}
    assert {":".join(x.split(":")[:2]) for x in listed} == set(theirs)
