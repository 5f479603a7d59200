"""`ppm lock --check` is what CI runs on a pull request, and a pull request can edit ppm.lock:
every edit of its body (a hash, a URL, a name, a version, an added package, a toolchain pin)
must fail the check with the difference named, even when the manifest digest was kept."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ppm.lockfile import project as lock_project
from registry_server import RegistryServer, npm_package

MANIFEST = """\
[project]
name = "demo"

[dependencies.npm]
left-pad = "^1.1"
"""


@pytest.fixture
def locked(tmp_path, monkeypatch):
    reg = tmp_path / "reg"
    npm_package(reg, "left-pad", {"1.1.0": {"is-number": "^7.0.0"}, "1.3.0": {"is-number": "^7.0.0"}})
    npm_package(reg, "is-number", {"7.0.0": {}, "7.0.1": {}})
    npm_package(reg, "evil", {"1.0.0": {}})
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "ppm.toml").write_text(MANIFEST)
    with RegistryServer(reg) as srv:
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("PPM_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("PPM_HTTP_RETRIES", "0")
        monkeypatch.chdir(proj)
        assert lock_project.lock(proj).status == "written"
        yield proj, srv


def _edit_hash(t: str) -> str:
    return re.sub(r'hash = "sha512-[A-Za-z0-9+/]{4}', 'hash = "sha512-AAAA', t, count=1)


def _edit_url(t: str) -> str:
    return t.replace("/npm/is-number/-/is-number-7.0.1.tgz", "/npm/evil/-/evil-1.0.0.tgz")


def _edit_name(t: str) -> str:
    return (t.replace('"npm:is-number@', '"npm:evil@').replace('name = "is-number"', 'name = "evil"')
            .replace('"node_modules/is-number"', '"node_modules/evil"'))


def _edit_added(t: str) -> str:
    start = t.index('[package."npm:is-number@')
    table = t[start:t.index("\n[package.", start)]
    return t + "\n" + _edit_name(table)


def _edit_version(t: str) -> str:
    return t.replace("is-number@7.0.1", "is-number@7.0.0").replace('version = "7.0.1"', 'version = "7.0.0"')


EDITS = {"hash": (_edit_hash, "~ npm:"), "url": (_edit_url, "~ npm:is-number@7.0.1"),
         "name": (_edit_name, "+ npm:is-number@7.0.1"),
         "added": (_edit_added, "- npm:evil@7.0.1"), "version": (_edit_version, "~ npm:is-number@7.0.0")}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_every_edit_of_the_lock_body_fails_the_check(locked, edit):
    proj, _srv = locked
    fn, named = EDITS[edit]
    text = (proj / "ppm.lock").read_text()
    assert lock_project.lock(proj, check=True).status == "fresh"
    edited = fn(text)
    assert edited != text
    (proj / "ppm.lock").write_text(edited)
    r = lock_project.lock(proj, check=True)
    assert r.status == "stale", edit
    assert any(line.startswith(named) for line in r.diff.lines()), r.diff.lines()
    assert (proj / "ppm.lock").read_text() == edited  # --check writes nothing


def test_the_real_command_fails_with_exit_1(locked):
    proj, _srv = locked
    (proj / "ppm.lock").write_text(_edit_url((proj / "ppm.lock").read_text()))
    p = subprocess.run([sys.executable, "-m", "ppm", "lock", "--check"], cwd=proj, capture_output=True, text=True)
    assert p.returncode == 1 and "ppm.lock is out of date" in p.stdout, p.stdout + p.stderr
    assert "~ npm:is-number@7.0.1" in p.stdout


def test_a_toolchain_pin_or_a_comment_edit_is_named(locked):
    proj, _srv = locked
    text = (proj / "ppm.lock").read_text()
    (proj / "ppm.lock").write_text(text.replace("# This file is written by", "# hand-edited; written by"))
    r = lock_project.lock(proj, check=True)
    assert r.status == "stale" and any("formatting" in x for x in r.diff.lines())


def test_a_passed_check_is_remembered_only_by_this_machine(locked, tmp_path, monkeypatch):
    from ppm.lockfile.project import try_noop

    proj, srv = locked
    assert lock_project.lock(proj, check=True).status == "fresh"
    n = len(srv.log)
    assert lock_project.lock(proj, check=True).status == "fresh" and len(srv.log) == n  # the record answered
    assert try_noop(["--check"]) == 0
    # a restored cache holds the record, but this machine's key is not the one that wrote it
    monkeypatch.setenv("PPM_STATE_DIR", str(tmp_path / "another-machine"))
    assert try_noop(["--check"]) is None
    assert lock_project.lock(proj, check=True).status == "fresh" and len(srv.log) > n  # resolved again
    # any change to the lock means a full check
    (proj / "ppm.lock").write_text(_edit_hash((proj / "ppm.lock").read_text()))
    assert try_noop(["--check"]) is None
    assert lock_project.lock(proj, check=True).status == "stale"
