"""PyPI resolution against the local registry server (PEP 691 JSON + PEP 658 metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ppm.lockfile.errors import HashMismatch, RegistryError, ResolutionError
from ppm.lockfile.registries.http import HttpClient
from ppm.lockfile.request import Root
from ppm.lockfile.resolve import resolve_roots
from registry_server import RegistryServer, pypi_project

LINUX = ["linux-x86_64"]


@pytest.fixture
def universe(tmp_path: Path):
    root = tmp_path / "reg"
    with RegistryServer(root) as srv:
        yield root, srv


def lock(srv: RegistryServer, tmp_path: Path, roots: list[Root], targets=LINUX, **kw) -> dict[str, object]:
    with HttpClient(cache=tmp_path / "cache", retries=kw.pop("retries", 0), timeout=kw.pop("timeout", 5)) as http:
        pkgs = resolve_roots(roots, targets, http=http, registries=srv.urls, **kw)
    return {p.name: p for p in pkgs}


def R(name: str, spec: str = "", comp: str = "*", extras: tuple[str, ...] = ()) -> Root:
    return Root("pypi", name, spec, comp, extras)


def test_simple_chain_with_hashes_and_edges(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "app-lib", {"1.0": {"requires": ["idna>=3"]}, "1.1": {"requires": ["idna>=3.5"]}})
    pypi_project(root, "idna", {"3.4": {}, "3.7": {}})
    got = lock(srv, tmp_path, [R("app-lib", comp="api")])
    assert {n: p.version for n, p in got.items()} == {"app-lib": "1.1", "idna": "3.7"}
    assert got["app-lib"].dependencies == ["pypi:idna@3.7"]
    assert got["idna"].components == ["api"]
    art = got["idna"].artifacts[0]
    assert art.url.endswith("/pypi/files/idna/idna-3.7-py3-none-any.whl") and art.hash.startswith("sha256:")


def test_backtracking(universe, tmp_path):
    root, srv = universe
    # b 2.0 needs c>=2, but a pins c<2: the resolver must back off to b 1.0.
    pypi_project(root, "a", {"1.0": {"requires": ["c<2"]}})
    pypi_project(root, "b", {"1.0": {"requires": ["c>=1"]}, "2.0": {"requires": ["c>=2"]}})
    pypi_project(root, "c", {"1.0": {}, "2.0": {}})
    got = lock(srv, tmp_path, [R("b"), R("a")])
    assert (got["a"].version, got["b"].version, got["c"].version) == ("1.0", "1.0", "1.0")


def test_conflict_names_both_sides(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "a", {"1.0": {"requires": ["c<2"]}})
    pypi_project(root, "c", {"1.0": {}, "2.0": {}})
    with pytest.raises(ResolutionError) as e:
        lock(srv, tmp_path, [R("a"), R("c", ">=2", comp="web")])
    msg = str(e.value)
    assert "c<2 (required by a 1.0)" in msg and "c>=2 (required by component web)" in msg


def test_yanked_skipped_unless_pinned(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "y", {"1.0": {}, "1.1": {"yanked": True}})
    assert lock(srv, tmp_path, [R("y")])["y"].version == "1.0"
    assert lock(srv, tmp_path, [R("y", "==1.1")])["y"].version == "1.1"


def test_prereleases_only_when_asked_or_alone(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "p", {"1.0": {}, "2.0b1": {}})
    pypi_project(root, "only-pre", {"0.1a1": {}})
    assert lock(srv, tmp_path, [R("p")])["p"].version == "1.0"
    assert lock(srv, tmp_path, [R("p", ">=2.0b1")])["p"].version == "2.0b1"
    assert lock(srv, tmp_path, [R("only-pre")])["only-pre"].version == "0.1a1"


def test_markers_per_target_and_extras(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "app", {"1.0": {"extras": ["socks"], "requires": [
        "winonly; sys_platform == 'win32'", "old; python_version < '3.8'", "socksio; extra == 'socks'"]}})
    for n in ("winonly", "old", "socksio"):
        pypi_project(root, n, {"1.0": {}})
    got = lock(srv, tmp_path, [R("app")])
    assert set(got) == {"app"}
    got = lock(srv, tmp_path, [R("app", extras=("socks",))], targets=["linux-x86_64", "windows-x86_64"])
    assert set(got) == {"app", "winonly", "socksio"}
    assert got["app"].features == ["socks"]
    assert got["app"].dependencies == ["pypi:socksio@1.0", "pypi:winonly@1.0"]


def test_requires_python_skips_versions(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "rp", {"1.0": {"requires_python": ">=3.8"}, "2.0": {"requires_python": ">=3.12"}})
    assert lock(srv, tmp_path, [R("rp")])["rp"].version == "1.0"


def test_wheels_per_target(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "native", {
        "1.0": {"wheels": ["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp311-cp311-win_amd64"]},
        "2.0": {"wheels": ["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"], "sdist": True},
    })
    got = lock(srv, tmp_path, [R("native")])
    assert got["native"].version == "2.0" and len(got["native"].artifacts) == 1
    got = lock(srv, tmp_path, [R("native")], targets=["linux-x86_64", "windows-x86_64"])
    assert got["native"].version == "1.0" and len(got["native"].artifacts) == 2
    with pytest.raises(ResolutionError) as e:
        lock(srv, tmp_path, [R("native")], targets=["macos-arm64"])
    assert "no wheel for macos-arm64" in str(e.value)


def test_unknown_project_names_registry_and_package(universe, tmp_path):
    root, srv = universe
    with pytest.raises(RegistryError) as e:
        lock(srv, tmp_path, [R("nope")])
    assert "pypi registry, package 'nope': no such project" in str(e.value)


def test_timeout_retries_then_clear_error(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "slow", {"1.0": {}})
    srv.slow["/pypi/simple/slow"] = 1.0
    with pytest.raises(RegistryError) as e:
        lock(srv, tmp_path, [R("slow")], retries=2, timeout=0.2)
    assert "package 'slow': timed out after 0.2 s (3 attempts)" in str(e.value)
    # the server logs a sleeping request only once it answers, so late ones may not be counted yet
    assert sum(1 for p, _ in srv.log if p.startswith("/pypi/simple/slow")) >= 1


def test_5xx_is_retried(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "flaky", {"1.0": {}})
    srv.fail["/pypi/simple/flaky"] = 503
    with pytest.raises(RegistryError) as e:
        lock(srv, tmp_path, [R("flaky")], retries=1)
    assert "server error HTTP 503 (2 attempts)" in str(e.value)
    assert [s for p, s in srv.log if p.startswith("/pypi/simple/flaky")] == [503, 503]


def test_refusal_passes_on_the_registrys_words(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "forbidden", {"1.0": {}})
    srv.fail["/pypi/simple/forbidden"] = 403
    with pytest.raises(RegistryError) as e:
        lock(srv, tmp_path, [R("forbidden")], retries=1)
    assert "package 'forbidden': unexpected HTTP 403: failing on purpose" in str(e.value)


def test_etag_revalidation_and_offline(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "idna", {"3.7": {}})
    lock(srv, tmp_path, [R("idna")])
    n = len(srv.log)
    lock(srv, tmp_path, [R("idna")])
    assert any(s == 304 for _, s in srv.log[n:])
    srv.stop()
    with HttpClient(cache=tmp_path / "cache", offline=True) as http:
        pkgs = resolve_roots([R("idna")], LINUX, http=http, registries=srv.urls)
    assert pkgs[0].version == "3.7"


def test_hash_mismatch_on_download(universe, tmp_path):
    root, srv = universe
    pypi_project(root, "idna", {"3.7": {}})
    got = lock(srv, tmp_path, [R("idna")])
    art = got["idna"].artifacts[0]
    path = art.url.split(srv.base, 1)[1]
    srv.tamper.add(path)
    with HttpClient(cache=tmp_path / "cache") as http, pytest.raises(HashMismatch) as e:
        http.download(art.url, expected=art.hash, ecosystem="pypi", package="idna")
    assert "hash mismatch" in str(e.value) and art.hash in str(e.value)
