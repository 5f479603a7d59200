"""npm, Cargo, Go and Maven resolution against the local registry server, each through its real protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from ppm.lockfile.errors import RegistryError, ResolutionError
from ppm.lockfile.registries.go import hash_mod
from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolve import resolve_roots
from registry_server import (
    RegistryServer,
    cargo_crate,
    go_module,
    maven_artifact,
    npm_package,
    pom,
)


@pytest.fixture
def universe(tmp_path: Path):
    root = tmp_path / "reg"
    with RegistryServer(root) as srv:
        yield root, srv


def lock(srv, tmp_path, roots, **kw):
    with HttpClient(cache=tmp_path / "cache", retries=0, timeout=5) as http:
        return resolve_roots(roots, ["linux-x86_64"], http=http, registries=srv.urls, **kw)


# -- npm ------------------------------------------------------------------------------------


def test_npm_duplicates_nest_like_npm(universe, tmp_path):
    root, srv = universe
    npm_package(root, "a", {"1.0.0": {"c": "^1.0.0"}})
    npm_package(root, "b", {"1.0.0": {"c": "^2.0.0", "@s/d": "~1.1.0"}})
    npm_package(root, "c", {"1.0.0": {}, "1.5.0": {}, "2.0.0": {}, "2.1.0": {}, "3.0.0-rc.1": {}}, latest="2.1.0")
    npm_package(root, "@s/d", {"1.1.0": {}, "1.1.3": {}, "1.2.0": {}})
    pkgs = {p.key: p for p in lock(srv, tmp_path, [Root("npm", "a", "^1"), Root("npm", "b", "1.x", "ui")])}
    assert sorted(pkgs) == ["npm:@s/d@1.1.3", "npm:a@1.0.0", "npm:b@1.0.0", "npm:c@1.5.0", "npm:c@2.1.0"]
    # a is processed first, so c@1 is hoisted to the root and c@2 nests under b
    assert pkgs["npm:c@1.5.0"].extra["paths"] == ["node_modules/c"]
    assert pkgs["npm:c@2.1.0"].extra["paths"] == ["node_modules/b/node_modules/c"]
    assert pkgs["npm:@s/d@1.1.3"].extra["paths"] == ["node_modules/@s/d"]
    assert pkgs["npm:b@1.0.0"].dependencies == ["npm:@s/d@1.1.3", "npm:c@2.1.0"]
    assert pkgs["npm:c@2.1.0"].components == ["ui"] and pkgs["npm:c@1.5.0"].components == ["*"]
    assert pkgs["npm:a@1.0.0"].artifacts[0].hash.startswith("sha512-")


def test_npm_unsatisfiable_names_both(universe, tmp_path):
    root, srv = universe
    npm_package(root, "a", {"1.0.0": {}})
    with pytest.raises(ResolutionError) as e:
        lock(srv, tmp_path, [Root("npm", "a", "^2", "web")])
    assert "a@^2 (required by component web)" in str(e.value) and "available: 1.0.0" in str(e.value)


# -- cargo ----------------------------------------------------------------------------------


def test_cargo_features_optional_and_series(universe, tmp_path):
    root, srv = universe
    cargo_crate(root, "serde", [
        {"vers": "1.0.100", "features": {"default": ["std"], "std": [], "derive": ["serde_derive"]},
         "deps": [{"name": "serde_derive", "req": "=1.0.100", "optional": True}]},
        {"vers": "1.0.200", "features": {"default": ["std"], "std": [], "derive": ["dep:serde_derive"]},
         "deps": [{"name": "serde_derive", "req": "=1.0.200", "optional": True},
                  {"name": "cc", "req": "1", "kind": "build"}, {"name": "winapi", "req": "0.3", "target": "cfg(windows)"},
                  {"name": "proptest", "req": "1", "kind": "dev"}]},
    ])
    cargo_crate(root, "serde_derive", [{"vers": "1.0.100"}, {"vers": "1.0.200"}])
    cargo_crate(root, "cc", [{"vers": "1.0.0"}, {"vers": "1.1.0", "yanked": True}])
    cargo_crate(root, "winapi", [{"vers": "0.3.9"}])
    cargo_crate(root, "rand", [{"vers": "0.7.3", "deps": [{"name": "serde", "req": "0.9"}]}])
    cargo_crate(root, "serde", [  # rewrite with a 0.9 series too
        {"vers": "0.9.15", "features": {}},
        {"vers": "1.0.100", "features": {"default": ["std"], "std": [], "derive": ["serde_derive"]},
         "deps": [{"name": "serde_derive", "req": "=1.0.100", "optional": True}]},
        {"vers": "1.0.200", "features": {"default": ["std"], "std": [], "derive": ["dep:serde_derive"]},
         "deps": [{"name": "serde_derive", "req": "=1.0.200", "optional": True},
                  {"name": "cc", "req": "1", "kind": "build"}, {"name": "winapi", "req": "0.3", "target": "cfg(windows)"},
                  {"name": "proptest", "req": "1", "kind": "dev"}]},
    ])
    roots = [Root("cargo", "serde", "1", "core", ("derive",)), Root("cargo", "rand", "0.7", "core")]
    pkgs = {p.key: p for p in lock(srv, tmp_path, roots)}
    assert sorted(pkgs) == ["cargo:cc@1.0.0", "cargo:rand@0.7.3", "cargo:serde@0.9.15", "cargo:serde@1.0.200",
                            "cargo:serde_derive@1.0.200", "cargo:winapi@0.3.9"]
    s = pkgs["cargo:serde@1.0.200"]
    assert s.features == ["default", "derive", "std"]
    assert s.dependencies == ["cargo:cc@1.0.0", "cargo:serde_derive@1.0.200", "cargo:winapi@0.3.9"]
    assert s.artifacts[0].url.endswith("/cargo/dl/serde/1.0.200/download")
    # without the feature, the optional dependency stays out
    pkgs = {p.key for p in lock(srv, tmp_path, [Root("cargo", "serde", "1", "core")])}
    assert "cargo:serde_derive@1.0.200" not in pkgs


def test_cargo_weak_features_and_ranges_across_series(universe, tmp_path):
    root, srv = universe
    # like regex-automata -> aho-corasick: `aho?/perf` applies because another feature enables aho
    cargo_crate(root, "aho", [{"vers": "1.1.0", "features": {"default": ["perf"], "perf": ["dep:memchr"]},
                               "deps": [{"name": "memchr", "req": "2", "optional": True}]}])
    cargo_crate(root, "memchr", [{"vers": "2.7.0"}])
    cargo_crate(root, "auto", [{"vers": "0.4.0", "features": {"default": ["search"], "search": ["dep:aho"], "fast": ["aho?/perf"]},
                                "deps": [{"name": "aho", "req": "1", "optional": True, "default_features": False},
                                         {"name": "wsys", "req": ">=0.59, <0.62"}]}])
    cargo_crate(root, "wsys", [{"vers": "0.59.0"}, {"vers": "0.60.2"}, {"vers": "0.61.2"}])
    pkgs = {p.key: p for p in lock(srv, tmp_path, [Root("cargo", "auto", "0.4", "core", ("fast",))])}
    assert sorted(pkgs) == ["cargo:aho@1.1.0", "cargo:auto@0.4.0", "cargo:memchr@2.7.0", "cargo:wsys@0.61.2"]
    assert pkgs["cargo:aho@1.1.0"].features == ["perf"] and pkgs["cargo:aho@1.1.0"].dependencies == ["cargo:memchr@2.7.0"]
    # without `search`, the build would not enable aho, but Cargo.lock still holds it: cargo's
    # dependency resolver activates weak `aho?/perf` like `aho/perf` (the feature resolver narrows
    # it later), so the lock carries what any feature combination may compile
    pkgs = {p.key for p in lock(srv, tmp_path, [Root("cargo", "auto", "0.4", "core", ("fast",), default_features=False)])}
    assert pkgs == {"cargo:aho@1.1.0", "cargo:auto@0.4.0", "cargo:memchr@2.7.0", "cargo:wsys@0.61.2"}


def test_cargo_lock_is_platform_independent(universe, tmp_path):
    """Recorded from reqwest 0.12 (`http2 = [..., "hyper-rustls?/http2"]`, the TLS stack declared
    under `[target.'cfg(not(target_arch = "wasm32"))'.dependencies]`) and ring 0.17 (an older
    windows-sys under `cfg(windows)`): `cargo generate-lockfile` puts all of it in Cargo.lock."""
    root, srv = universe
    nw = 'cfg(not(target_arch = "wasm32"))'
    cargo_crate(root, "reqwest", [{"vers": "0.12.28",
        "features": {"default": ["default-tls", "http2"], "default-tls": ["dep:hyper-tls"], "http2": ["hyper-rustls?/http2"]},
        "deps": [{"name": "hyper-tls", "req": "^0.6", "optional": True, "target": nw},
                 {"name": "hyper-rustls", "req": "^0.27", "optional": True, "default_features": False, "target": nw},
                 # one name under two target tables, each with its own features: both apply
                 {"name": "getrandom", "req": "^0.2", "target": "cfg(unix)"},
                 {"name": "getrandom", "req": "^0.2", "features": ["js"], "target": 'cfg(target_arch = "wasm32")'}]}])
    cargo_crate(root, "hyper-tls", [{"vers": "0.6.0"}])
    cargo_crate(root, "hyper-rustls", [{"vers": "0.27.10", "features": {"http2": []},
                                        "deps": [{"name": "ring", "req": "^0.17"}]}])
    cargo_crate(root, "ring", [{"vers": "0.17.14", "deps": [{"name": "windows-sys", "req": "^0.52", "target": "cfg(windows)"}]}])
    cargo_crate(root, "windows-sys", [{"vers": "0.52.0"}, {"vers": "0.61.2"}])
    cargo_crate(root, "getrandom", [{"vers": "0.2.17", "features": {"js": ["dep:wasm-bindgen"]},
                                     "deps": [{"name": "wasm-bindgen", "req": "^0.2", "optional": True, "target": 'cfg(target_arch = "wasm32")'}]}])
    cargo_crate(root, "wasm-bindgen", [{"vers": "0.2.100"}])
    pkgs = {p.key: p for p in lock(srv, tmp_path, [Root("cargo", "reqwest", "0.12")])}
    assert sorted(pkgs) == ["cargo:getrandom@0.2.17", "cargo:hyper-rustls@0.27.10", "cargo:hyper-tls@0.6.0", "cargo:reqwest@0.12.28",
                            "cargo:ring@0.17.14", "cargo:wasm-bindgen@0.2.100", "cargo:windows-sys@0.52.0"]
    assert pkgs["cargo:getrandom@0.2.17"].features == ["js"] and pkgs["cargo:hyper-rustls@0.27.10"].features == ["http2"]


def test_cargo_conflict_in_one_series(universe, tmp_path):
    root, srv = universe
    cargo_crate(root, "log", [{"vers": "0.4.1"}, {"vers": "0.4.20"}])
    cargo_crate(root, "app", [{"vers": "1.0.0", "deps": [{"name": "log", "req": "=0.4.1"}]}])
    with pytest.raises(ResolutionError) as e:
        lock(srv, tmp_path, [Root("cargo", "app", "1"), Root("cargo", "log", "0.4.20", "cli")])
    assert "log =0.4.1 (required by app 1.0.0)" in str(e.value) and "log 0.4.20 (required by component cli)" in str(e.value)


def test_cargo_unknown_crate(universe, tmp_path):
    root, srv = universe
    with pytest.raises(RegistryError, match="cargo registry, package 'nope': no such crate"):
        lock(srv, tmp_path, [Root("cargo", "nope", "1")])


# -- go -------------------------------------------------------------------------------------


def test_go_mvs_upgrades_to_highest_required(universe, tmp_path):
    root, srv = universe
    go_module(root, "example.com/a", {"v1.0.0": [], "v1.2.0": [], "v1.3.0": []})
    go_module(root, "example.com/b", {"v1.0.0": ["example.com/a v1.2.0", "github.com/Up/Per v0.1.0 // indirect"]})
    go_module(root, "github.com/Up/Per", {"v0.1.0": []})
    pkgs = {p.key: p for p in lock(srv, tmp_path, [Root("go", "example.com/a", "v1.0.0"), Root("go", "example.com/b", "v1.0.0", "svc")])}
    assert sorted(pkgs) == ["go:example.com/a@v1.2.0", "go:example.com/b@v1.0.0", "go:github.com/Up/Per@v0.1.0"]
    a = pkgs["go:example.com/a@v1.2.0"]
    assert a.artifacts[0].hash.startswith("h1:") and a.extra["go-mod-sums"] == [f"v1.0.0 {hash_mod(b'module example.com/a' + bytes(chr(10)*2, 'ascii') + b'go 1.21' + bytes(chr(10), 'ascii'))}"]
    assert sorted(a.components) == ["*", "svc"]
    assert "/go/github.com/!up/!per/@v/v0.1.0.zip" in pkgs["go:github.com/Up/Per@v0.1.0"].artifacts[1].url + pkgs["go:github.com/Up/Per@v0.1.0"].artifacts[0].url


def test_go_h1_matches_dirhash():
    # golang.org/x/mod/sumdb/dirhash test vector: files "xyz" = "data for xyz", "abc" = "data for abc"
    import base64
    import hashlib

    from ppm.lockfile.registries.go import hash1
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted([("abc", b"data for abc"), ("xyz", b"data for xyz")]))
    assert hash1([("xyz", b"data for xyz"), ("abc", b"data for abc")]) == "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


# -- maven ----------------------------------------------------------------------------------

DEP = "<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>{v}{extra}</dependency>"


def dep(g, a, v="", extra=""):
    return DEP.format(g=g, a=a, v=f"<version>{v}</version>" if v else "", extra=extra)


def test_maven_parent_bom_and_nearest_wins(universe, tmp_path):
    root, srv = universe
    maven_artifact(root, "org.bom", "bom", {"2.0": pom("org.bom", "bom", "2.0", packaging="pom", extra=(
        "<dependencyManagement><dependencies>" + dep("org.lib", "util", "2.0") + dep("org.lib", "core", "9.9") +
        "</dependencies></dependencyManagement>"))})
    parent = "<parent><groupId>org.app</groupId><artifactId>parent</artifactId><version>1</version></parent>"
    maven_artifact(root, "org.app", "parent", {"1": pom("org.app", "parent", "1", packaging="pom", extra=(
        "<properties><core.version>1.5</core.version></properties>"
        "<dependencyManagement><dependencies>" + dep("org.lib", "core", "${core.version}") +
        dep("org.bom", "bom", "2.0", "<type>pom</type><scope>import</scope>") + "</dependencies></dependencyManagement>"))})
    maven_artifact(root, "org.app", "svc", {"1.0": pom("", "svc", "1.0", parent=parent, deps=(
        dep("org.lib", "core") + dep("org.lib", "util") + dep("junit", "junit", "4.13", "<scope>test</scope>") +
        dep("org.lib", "opt", "1", "<optional>true</optional>")))})
    maven_artifact(root, "org.lib", "core", {"1.5": pom("org.lib", "core", "1.5", deps=dep("org.lib", "util", "1.0")), "9.9": pom("org.lib", "core", "9.9")})
    maven_artifact(root, "org.lib", "util", {"1.0": pom("org.lib", "util", "1.0"), "2.0": pom("org.lib", "util", "2.0")})
    pkgs = {p.key: p for p in lock(srv, tmp_path, [Root("maven", "org.app:svc", "1.0", "jvm")])}
    # core's version comes from the parent's dependencyManagement (not the BOM's 9.9), util's from
    # the BOM; util 2.0 (depth 1) beats core's util 1.0 (depth 2); test and optional deps stay out.
    assert sorted(pkgs) == ["maven:org.app:svc@1.0", "maven:org.lib:core@1.5", "maven:org.lib:util@2.0"]
    assert pkgs["maven:org.lib:core@1.5"].dependencies == ["maven:org.lib:util@2.0"]
    art = pkgs["maven:org.lib:util@2.0"].artifacts[0]
    assert art.url.endswith("/maven/org/lib/util/2.0/util-2.0.jar") and art.hash.startswith("sha256:")
    assert pkgs["maven:org.lib:util@2.0"].components == ["jvm"]


def test_maven_range_and_exclusion(universe, tmp_path):
    root, srv = universe
    maven_artifact(root, "g", "x", {"1.0": pom("g", "x", "1.0", deps=dep("g", "y", "[1.0,2.0)", "<exclusions><exclusion><groupId>g</groupId><artifactId>z</artifactId></exclusion></exclusions>"))})
    maven_artifact(root, "g", "y", {"1.0": pom("g", "y", "1.0", deps=dep("g", "z", "1")), "1.5": pom("g", "y", "1.5", deps=dep("g", "z", "1")), "2.0": pom("g", "y", "2.0")})
    maven_artifact(root, "g", "z", {"1": pom("g", "z", "1")})
    pkgs = sorted(p.key for p in lock(srv, tmp_path, [Root("maven", "g:x", "1.0")]))
    assert pkgs == ["maven:g:x@1.0", "maven:g:y@1.5"]
