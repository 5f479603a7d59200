"""Each resolver rule issue 8 fixed, on a small universe shaped like the real case it was recorded
from, served through the registry's real protocol. Where the native tool is on the machine it
resolves the same universe offline (the Go proxy tree through GOPROXY=file://), so the rule is
checked against the tool itself, not against a belief about it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ppm.lockfile import export
from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolve import resolve_roots
from registry_server import RegistryServer, go_module, maven_artifact, npm_package, pom


@pytest.fixture
def universe(tmp_path: Path):
    root = tmp_path / "reg"
    with RegistryServer(root) as srv:
        yield root, srv


def lock(srv: RegistryServer, tmp_path: Path, roots: list[Root]) -> dict:
    with HttpClient(cache=tmp_path / "cache", retries=0, timeout=5) as http:
        return {p.key: p for p in resolve_roots(roots, ["linux-x86_64"], http=http, registries=srv.urls)}


def dep(g: str, a: str, v: str = "", extra: str = "") -> str:
    version = f"<version>{v}</version>" if v else ""
    return f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>{version}{extra}</dependency>"


def go_list(tmp_path: Path, reg: Path, go_mod: str) -> set[str]:
    """`go list -m all` over the fixture proxy, offline: the go command's own build list."""
    d = tmp_path / "native"
    d.mkdir(exist_ok=True)
    (d / "go.mod").write_text(go_mod)
    env = {**os.environ, "GOPROXY": f"file://{reg / 'go'}", "GOFLAGS": "-mod=mod", "GOSUMDB": "off",
           "GOTOOLCHAIN": "local", "GOPATH": str(tmp_path / "gopath"), "GOMODCACHE": str(tmp_path / "gomod")}
    out = subprocess.run(["go", "list", "-m", "all"], cwd=d, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {"go:" + "@".join(line.split()[:2]) for line in out.stdout.splitlines()[1:]}


def test_go_pruned_graph_raises_nothing(universe, tmp_path):
    """Recorded from gin + cobra + aws-sdk-go-v2/config: ppm listed 66 modules and higher
    versions where `go list -m all` lists 50. In a go >= 1.17 graph, what a pruned-out module
    requires is never read; a go < 1.17 module's graph is read in full; a root raised by another
    module is read again at its new version."""
    root, srv = universe
    go_module(root, "example.com/web", {"v1.0.0": ["example.com/codec v1.0.0", "golang.org/x/crypto v0.20.0",
                                                   "example.com/legacy v1.0.0"]})
    # legacy (go 1.16) is in the build list; its own graph is read only once something imports it
    go_module(root, "example.com/legacy", {"v1.0.0": ["example.com/legacytest v1.0.0"]}, go="1.16")
    go_module(root, "example.com/legacytest", {"v1.0.0": []})
    # codec is pruned out (only web's go.mod is read): its requirement of crypto v0.30 must not count
    go_module(root, "example.com/codec", {"v1.0.0": ["golang.org/x/crypto v0.30.0", "example.com/testonly v1.0.0"]})
    go_module(root, "golang.org/x/crypto", {"v0.20.0": [], "v0.30.0": []})
    go_module(root, "example.com/testonly", {"v1.0.0": []})
    # an old, unpruned root: its whole graph counts, down to what old requires through new
    go_module(root, "example.com/old", {"v1.0.0": ["example.com/mid v1.0.0"]}, go="1.16")
    go_module(root, "example.com/mid", {"v1.0.0": ["example.com/leaf v1.1.0"]})
    go_module(root, "example.com/leaf", {"v1.1.0": ["example.com/deeper v1.0.0"]})
    go_module(root, "example.com/deeper", {"v1.0.0": []})
    # a root that another root raises: read again at v1.1.0, whose requirements differ
    go_module(root, "example.com/cli", {"v1.0.0": ["example.com/gone v1.0.0"], "v1.1.0": []})
    go_module(root, "example.com/gone", {"v1.0.0": []})
    go_module(root, "example.com/tool", {"v1.0.0": ["example.com/cli v1.1.0"]})
    roots = [Root("go", "example.com/web", "v1.0.0"), Root("go", "example.com/old", "v1.0.0"),
             Root("go", "example.com/cli", "v1.0.0"), Root("go", "example.com/tool", "v1.0.0")]
    pkgs = lock(srv, tmp_path, roots)
    expected = {"go:example.com/web@v1.0.0", "go:example.com/legacy@v1.0.0", "go:example.com/codec@v1.0.0",
                "go:golang.org/x/crypto@v0.20.0",
                "go:example.com/old@v1.0.0", "go:example.com/mid@v1.0.0", "go:example.com/leaf@v1.1.0",
                "go:example.com/deeper@v1.0.0", "go:example.com/cli@v1.1.0", "go:example.com/tool@v1.0.0"}
    assert set(pkgs) == expected
    # the exported go.mod lists only modules whose go.mod selects nothing new: codec would pull
    # in crypto v0.30 and testonly, so it stays unlisted; go.sum has every go.mod the go command reads
    world = export.World("svc", "go", [(r, pkgs[next(k for k in pkgs if k.startswith(f"go:{r.name}@"))]) for r in roots],
                         sorted(pkgs.values(), key=lambda p: p.name))
    gm = export.go_mod(world, "svc", None, go_version="1.22")
    assert "example.com/codec" not in gm and "\texample.com/deeper v1.0.0 // indirect\n" in gm
    gs = export.go_sum(world)
    assert "example.com/cli v1.0.0/go.mod" in gs
    # `go build` makes legacy a root when the code imports it, and then reads legacytest's go.mod:
    # the lock hashes that go.mod (not a zip: legacytest stays outside the build list)
    assert "example.com/legacytest v1.0.0/go.mod h1:" in gs and "example.com/legacytest v1.0.0 h1:" not in gs
    assert pkgs["go:example.com/legacy@v1.0.0"].extra["go-graph-mods"][0].startswith("example.com/legacytest v1.0.0 h1:")
    if shutil.which("go") is None:
        pytest.skip("go is not installed: the go command's own answer was not checked")
    user = "module svc\n\ngo 1.22\n\nrequire (\n" + "".join(f"\t{r.name} {r.spec}\n" for r in roots) + ")\n"
    assert go_list(tmp_path, root, user) == expected
    # the exported go.mod selects exactly the lock too
    assert go_list(tmp_path, root, gm) == expected


def test_maven_management_key_and_inherited_order(universe, tmp_path):
    """Recorded from spring-boot-starter-web 3.3.0: logback-classic 1.5.6 declares logback-core
    and slf4j-api twice, as compile jars and as test-scoped test-jars; ppm kept one entry per
    groupId:artifactId, lost logback-core and took slf4j-api 2.0.9 from deeper down where
    `mvn dependency:list` has 2.0.13."""
    root, srv = universe
    maven_artifact(root, "ch.qos.logback", "logback-classic", {"1.5.6": pom("ch.qos.logback", "logback-classic", "1.5.6", deps=(
        dep("ch.qos.logback", "logback-core", "1.5.6") + dep("org.slf4j", "slf4j-api", "2.0.13") +
        dep("org.slf4j", "slf4j-api", "2.0.13", "<type>test-jar</type><scope>test</scope>") +
        dep("ch.qos.logback", "logback-core", "1.5.6", "<type>test-jar</type><scope>test</scope>")))})
    maven_artifact(root, "ch.qos.logback", "logback-core", {"1.5.6": pom("ch.qos.logback", "logback-core", "1.5.6")})
    maven_artifact(root, "org.slf4j", "slf4j-api", {"2.0.9": pom("org.slf4j", "slf4j-api", "2.0.9"),
                                                    "2.0.13": pom("org.slf4j", "slf4j-api", "2.0.13")})
    maven_artifact(root, "org.apache.logging.log4j", "log4j-to-slf4j", {"2.23.1": pom(
        "org.apache.logging.log4j", "log4j-to-slf4j", "2.23.1", deps=dep("org.slf4j", "slf4j-api", "2.0.9"))})
    # the starter: the child's own dependencies come before those it inherits
    parent = "<parent><groupId>org.boot</groupId><artifactId>starters</artifactId><version>3</version></parent>"
    maven_artifact(root, "org.boot", "starters", {"3": pom("org.boot", "starters", "3", packaging="pom",
                                                          deps=dep("org.apache.logging.log4j", "log4j-to-slf4j", "2.23.1"))})
    maven_artifact(root, "org.boot", "starter-logging", {"3.3.0": pom("org.boot", "starter-logging", "3.3.0", parent=parent,
                                                                      deps=dep("ch.qos.logback", "logback-classic", "1.5.6"))})
    pkgs = lock(srv, tmp_path, [Root("maven", "org.boot:starter-logging", "3.3.0")])
    assert sorted(pkgs) == ["maven:ch.qos.logback:logback-classic@1.5.6", "maven:ch.qos.logback:logback-core@1.5.6",
                            "maven:org.apache.logging.log4j:log4j-to-slf4j@2.23.1", "maven:org.boot:starter-logging@3.3.0",
                            "maven:org.slf4j:slf4j-api@2.0.13"]


def test_npm_installs_required_peers_beside_their_dependent(universe, tmp_path):
    """Recorded from @mui/material 5: @types/react-transition-group has a required peer
    @types/react, which npm 7+ installs (package-lock has it, `"peer": true`); the optional
    peers of @mui/* (peerDependenciesMeta) stay out."""
    import json

    root, srv = universe
    npm_package(root, "@mui/material", {"5.15.0": {"@types/react-transition-group": "^4.4.10"}})
    npm_package(root, "@types/react-transition-group", {"4.4.10": {}})
    npm_package(root, "@types/react", {"18.3.3": {}, "19.3.3": {}})
    npm_package(root, "optional-peer", {"1.0.0": {}})
    for name, peers, meta in (("@types/react-transition-group", {"@types/react": "*"}, {}),
                              ("@mui/material", {"@types/react": "^18 || ^19", "optional-peer": "1"},
                               {"@types/react": {"optional": True}, "optional-peer": {"optional": True}})):
        f = root / "npm" / (name.replace("/", "%2f") + ".json")
        doc = json.loads(f.read_text())
        for v in doc["versions"].values():
            v["peerDependencies"], v["peerDependenciesMeta"] = peers, meta
        f.write_text(json.dumps(doc))
    pkgs = lock(srv, tmp_path, [Root("npm", "@mui/material", "^5")])
    assert set(pkgs) == {"npm:@mui/material@5.15.0", "npm:@types/react-transition-group@4.4.10", "npm:@types/react@19.3.3"}
    assert pkgs["npm:@types/react@19.3.3"].extra["paths"] == ["node_modules/@types/react"]


def test_maven_managed_exclusions_apply(universe, tmp_path):
    """Recorded from dropwizard-core 4.0.7: its BOM manages guava with an exclusion of jsr305; a
    declaration of guava without exclusions takes the managed ones, so `mvn dependency:list` has
    no jsr305 (found by the corpus)."""
    root, srv = universe
    maven_artifact(root, "io.dw", "dw-dependencies", {"4.0.7": pom("io.dw", "dw-dependencies", "4.0.7", packaging="pom", extra=(
        "<dependencyManagement><dependencies>" + dep("com.google.guava", "guava", "33.0.0-jre",
        "<exclusions><exclusion><groupId>com.google.code.findbugs</groupId><artifactId>jsr305</artifactId></exclusion>"
        "</exclusions>") + "</dependencies></dependencyManagement>"))})
    maven_artifact(root, "io.dw", "dw-util", {"4.0.7": pom("io.dw", "dw-util", "4.0.7", deps=dep("com.google.guava", "guava"),
                                                            extra=(
        "<dependencyManagement><dependencies>" + dep("io.dw", "dw-dependencies", "4.0.7", "<type>pom</type><scope>import</scope>")
        + "</dependencies></dependencyManagement>"))})
    guava = pom("com.google.guava", "guava", "33.0.0-jre", deps=dep("com.google.code.findbugs", "jsr305", "3.0.2"))
    maven_artifact(root, "com.google.guava", "guava", {"33.0.0-jre": guava})
    maven_artifact(root, "com.google.code.findbugs", "jsr305", {"3.0.2": pom("com.google.code.findbugs", "jsr305", "3.0.2")})
    pkgs = lock(srv, tmp_path, [Root("maven", "io.dw:dw-util", "4.0.7")])
    assert sorted(pkgs) == ["maven:com.google.guava:guava@33.0.0-jre", "maven:io.dw:dw-util@4.0.7"]
