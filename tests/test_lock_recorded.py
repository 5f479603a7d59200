"""Resolution over responses recorded from the real registries (tests/fixtures/registries/record.py)."""

from __future__ import annotations

from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolve import resolve_roots
from registry_server import RegistryServer


def test_recorded_registries(tmp_path):
    roots = [Root("pypi", "anyio", ""), Root("npm", "is-odd", "*"), Root("cargo", "itoa", "1"), Root("cargo", "ryu", "1"),
             Root("go", "github.com/google/uuid", "v1.6.0"), Root("maven", "org.slf4j:slf4j-api", "2.0.13")]
    with RegistryServer() as srv, HttpClient(cache=tmp_path / "cache", retries=0) as http:
        pkgs = {p.key: p for p in resolve_roots(roots, ["linux-x86_64", "windows-x86_64"], http=http, registries=srv.urls)}
    names = {(p.ecosystem, p.name) for p in pkgs.values()}
    assert {("pypi", "anyio"), ("pypi", "idna"), ("npm", "is-odd"), ("npm", "is-number"), ("cargo", "itoa"), ("cargo", "ryu"),
            ("go", "github.com/google/uuid"), ("maven", "org.slf4j:slf4j-api")} <= names
    uuid = pkgs["go:github.com/google/uuid@v1.6.0"]
    # the h1 hashes go.sum has for this module, computed here from the zip and the go.mod
    assert {a.hash for a in uuid.artifacts} == {"h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
                                                "h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo="}
    slf4j = pkgs["maven:org.slf4j:slf4j-api@2.0.13"]
    assert slf4j.artifacts[0].hash.startswith("sha1:") and slf4j.artifacts[0].url.endswith("slf4j-api-2.0.13.jar")


def test_recorded_maven_management_key(tmp_path):
    """logback-classic 1.5.6 as Maven Central serves it: logback-core and slf4j-api are declared as
    compile jars and again as test-scoped test-jars; `mvn dependency:list` keeps both jars."""
    with RegistryServer() as srv, HttpClient(cache=tmp_path / "cache", retries=0) as http:
        pkgs = {p.key for p in resolve_roots([Root("maven", "ch.qos.logback:logback-classic", "1.5.6")], ["linux-x86_64"],
                                             http=http, registries=srv.urls)}
    assert pkgs == {"maven:ch.qos.logback:logback-classic@1.5.6", "maven:ch.qos.logback:logback-core@1.5.6",
                    "maven:org.slf4j:slf4j-api@2.0.13"}
