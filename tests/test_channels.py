"""Channels and staged rollouts: signed, moving only forward, admitting installs by a stable hash
of an install id kept beside the executable. Against a real repository on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_update_support import (
    Install,
    Published,
    make_install,
    make_project,
    needs_cc,
    output_of,
)

from helpers import run_ppm
from ppm.release.channels import ChannelError
from ppm.release.publish import promote
from ppm.release.tufrepo import serve
from ppm.update import client as update
from ppm.update import rollout
from ppm.update.client import UpdateError

pytest_plugins = ("test_update_support",)  # its fixtures: bins


# ------------------------------------------------------------------------------ admission alone


def test_zero_admits_no_one_and_hundred_everyone() -> None:
    ids = [f"{i:032x}" for i in range(200)]
    assert not any(rollout.admitted(i, "linux-x86_64", "stable", "1.0.0", 0) for i in ids)
    assert all(rollout.admitted(i, "linux-x86_64", "stable", "1.0.0", 100) for i in ids)


def test_thirty_percent_admits_about_thirty_percent_and_widening_keeps_them() -> None:
    import secrets

    ids = [secrets.token_hex(16) for _ in range(200)]
    at30 = {i for i in ids if rollout.admitted(i, "linux-x86_64", "beta", "2.0.0", 30)}
    assert 40 <= len(at30) <= 80, len(at30)  # between 20% and 40% of 200
    at60 = {i for i in ids if rollout.admitted(i, "linux-x86_64", "beta", "2.0.0", 60)}
    assert at30 <= at60  # raising a rollout never drops an install it admitted
    # Each release samples its own installs, not always the same early adopters.
    other = {i for i in ids if rollout.admitted(i, "linux-x86_64", "beta", "2.1.0", 30)}
    assert other != at30


def test_install_id_is_made_once_and_kept_beside_the_executable(tmp_path: Path) -> None:
    d = update.state_dir_for(tmp_path / "app")
    first = rollout.install_id(d)
    assert first == rollout.install_id(d) and (tmp_path / ".app.ppm-update" / "install-id").read_text().strip() == first
    (d / "install-id").write_text("garbage\n")  # damaged: replaced, not trusted
    assert rollout.install_id(d) != "garbage"


def test_rollout_syntax_refused() -> None:
    from ppm.release.channels import parse_rollout

    assert parse_rollout("10%") == 10 and parse_rollout("12.5") == 12.5 and parse_rollout(100) == 100
    for bad in ("150%", "-1%", "ten", ""):
        with pytest.raises(ChannelError, match="between 0% and 100%"):
            parse_rollout(bad)


# ------------------------------------------------------------------------------ end to end


def _setup(tmp_path: Path, bins: dict[str, Path]) -> Published:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    return pub


def _install(tmp_path: Path, pub: Published, exe: Path, name: str, *, admitted_at: float | None = None,
             version: str = "", channel: str = "stable") -> Install:
    """An install of `exe`; with `admitted_at`, an install id chosen to sit just past (False) or
    inside (True) a rollout of that percentage for `version` on `channel`."""
    inst = make_install(tmp_path / name, exe, pub.root_json)
    if admitted_at is not None:
        d = update.state_dir_for(inst.exe)
        d.mkdir(parents=True, exist_ok=True)
        want = name.startswith("in")
        n = 0
        while True:
            iid = f"{n:032x}"
            if rollout.admitted(iid, pub.target, channel, version, admitted_at) == want:
                break
            n += 1
        (d / "install-id").write_text(iid + "\n")
    return inst


@needs_cc
def test_stable_stays_put_while_beta_moves(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = _setup(tmp_path, bins)
    pub.publish("1.1.0", bins["1.1.0"], channel="beta")
    pub.publish("1.2.0", bins["1.2.0"], channel="beta")
    stable = _install(tmp_path, pub, bins["1.0.0"], "stable")
    beta = _install(tmp_path, pub, bins["1.0.0"], "beta")
    with serve(pub.repo) as url:
        assert update.check(url, stable.exe, root_json=stable.root_json) is None
        info = update.check(url, beta.exe, root_json=beta.root_json, channel="beta")
        assert info is not None and info.version == "1.2.0"
        update.apply(info)
        assert output_of(beta.exe) == "1.2.0"
        # The channel is remembered: later checks follow beta without being told.
        pub.publish("1.3.0", bins["1.1.0"], channel="beta")
        assert update.check(url, beta.exe, root_json=beta.root_json).version == "1.3.0"
        assert update.check(url, stable.exe, root_json=stable.root_json) is None
        # Promoting a beta to stable moves stable, and beta installs are offered stable's newer releases.
        promote(pub.root, "1.2.0", channel="stable", keys_dir=pub.keys_online)
        assert update.check(url, stable.exe, root_json=stable.root_json).version == "1.2.0"
    latest = json.loads(pub.served_file(f"{pub.target}/latest.json").read_text())
    assert latest["version"] == "1.2.0" and latest["channel"] == "stable" and latest["rollout"] == 100


@needs_cc
def test_a_stable_hotfix_may_follow_a_newer_beta_but_not_go_below_stable(tmp_path: Path, bins: dict[str, Path]) -> None:
    from ppm.release.publish import ReleaseError

    pub = _setup(tmp_path, bins)
    pub.publish("1.2.0", bins["1.2.0"], channel="beta")
    pub.publish("1.0.1", bins["1.1.0"])  # stable's newest is 1.0.0: a hotfix is not "lower"
    with pytest.raises(ReleaseError, match=r"lower than the newest published version 1\.2\.0"):
        pub.publish("1.1.5", bins["1.1.0"], channel="beta")
    with pytest.raises(ReleaseError, match=r"lower than the newest published version 1\.0\.1"):
        pub.publish("1.0.0.post1", bins["1.1.0"])
    beta = _install(tmp_path, pub, bins["1.0.0"], "beta")
    with serve(pub.repo) as url:
        # A beta install is offered the newest of beta and stable.
        assert update.check(url, beta.exe, root_json=beta.root_json, channel="beta").version == "1.2.0"


@needs_cc
def test_staged_rollout_admits_by_install_id_and_promote_widens_it(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = _setup(tmp_path, bins)
    pub.publish("1.1.0", bins["1.1.0"], rollout=0)
    nobody = _install(tmp_path, pub, bins["1.0.0"], "out-zero")
    with serve(pub.repo) as url:
        assert update.check(url, nobody.exe, root_json=nobody.root_json) is None  # 0% admits no one
        promote(pub.root, "1.1.0", rollout="30%", keys_dir=pub.keys_online)
        inside = _install(tmp_path, pub, bins["1.0.0"], "in-30", admitted_at=30, version="1.1.0")
        outside = _install(tmp_path, pub, bins["1.0.0"], "out-30", admitted_at=30, version="1.1.0")
        assert update.check(url, inside.exe, root_json=inside.root_json).version == "1.1.0"
        assert update.check(url, outside.exe, root_json=outside.root_json) is None
        # A new release while 1.1.0 is still rolling out: those left out stay on the last full release.
        pub.publish("1.2.0", bins["1.2.0"], rollout="30%")
        doc = json.loads(pub.served_file(f"{pub.target}/latest.json").read_text())
        assert doc["fallback"]["version"] == "1.0.0" and doc["rollout"] == 30
        late = _install(tmp_path, pub, bins["bad"], "out-late",  # an older build, called 0.9.0 below
                        admitted_at=30, version="1.2.0")
        info = update.check(url, late.exe, root_json=late.root_json, current_version="0.9.0")
        assert info.version == "1.0.0" and "1.2.0 on stable is rolled out to 30% of installs, not yet this one" in info.skipped
        promote(pub.root, "1.2.0", rollout="100%", keys_dir=pub.keys_online)
        assert update.check(url, outside.exe, root_json=outside.root_json).version == "1.2.0"
        assert update.check(url, nobody.exe, root_json=nobody.root_json).version == "1.2.0"
    assert json.loads(pub.served_file(f"{pub.target}/latest.json").read_text())["fallback"] is None


@needs_cc
def test_channel_rollback_and_downgrade_between_channels_are_refused(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = _setup(tmp_path, bins)
    pub.publish("1.1.0", bins["1.1.0"], channel="beta")
    pub.publish("1.2.0", bins["1.2.0"], channel="beta")
    # The publisher side refuses to move a channel back.
    with pytest.raises(ChannelError, match=r"moving it back to 1\.1\.0"):
        promote(pub.root, "1.1.0", channel="beta", keys_dir=pub.keys_online)
    inst = _install(tmp_path, pub, bins["1.0.0"], "beta")
    with serve(pub.repo) as url:
        info = update.check(url, inst.exe, root_json=inst.root_json, channel="beta")
        assert info.version == "1.2.0"
        update.apply(info)
        # Someone holding the online keys forces beta back to 1.1.0: validly signed, still refused.
        promote(pub.root, "1.1.0", channel="beta", keys_dir=pub.keys_online, force=True)
        with pytest.raises(UpdateError, match=r"channel rollback refused.*offers 1\.1\.0.*already offered 1\.2\.0"):
            update.check(url, inst.exe, root_json=inst.root_json)
        assert output_of(inst.exe) == "1.2.0"
        # Switching to a channel that is behind never downgrades.
        assert update.check(url, inst.exe, root_json=inst.root_json, channel="stable") is None
        assert output_of(inst.exe) == "1.2.0"
        with pytest.raises(UpdateError, match="not a channel name"):
            update.check(url, inst.exe, root_json=inst.root_json, channel="../stable")


@needs_cc
def test_allow_readmits_a_rolled_back_version_through_the_cli(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = _setup(tmp_path, bins)
    pub.publish("1.1.0", bins["1.1.0"])
    inst = _install(tmp_path, pub, bins["1.0.0"], "inst")
    with serve(pub.repo) as url:
        update.apply(update.check(url, inst.exe, root_json=inst.root_json))
        update.rollback(inst.exe)
        p = run_ppm("update", "--repo", url, "--install", str(inst.exe), "--root", str(inst.root_json), cwd=tmp_path)
        assert "not offered again: 1.1.0" in p.stderr and "--allow" in p.stderr
        p = run_ppm("update", "--repo", url, "--install", str(inst.exe), "--allow", "1.1.0", cwd=tmp_path)
        assert "1.1.0 may be offered again" in p.stderr and "1.0.0 → 1.1.0" in p.stderr
        assert output_of(inst.exe) == "1.1.0"


@needs_cc
def test_release_cli_channel_rollout_and_promote(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = _setup(tmp_path, bins)
    env = {"PPM_KEYS_DIR": str(pub.keys_online), "PPM_ROOT_KEY_DIR": str(pub.keys_root)}
    coll = tmp_path / "collected" / pub.target
    coll.mkdir(parents=True)
    (coll / "app").write_bytes(bins["1.1.0"].read_bytes())
    p = run_ppm("release", "--version", "1.1.0", "--collect", str(tmp_path / "collected"), "--channel", "beta",
                "--rollout", "10%", cwd=pub.root, env=env)
    assert "released app 1.1.0 on beta to 10%" in p.stderr
    p = run_ppm("release", "promote", "1.1.0", "--rollout", "50%", cwd=pub.root, env=env)
    assert f"{pub.target}: 1.1.0 now on beta at 50%" in p.stderr
    p = run_ppm("release", "promote", "1.1.0", "--channel", "stable", cwd=pub.root, env=env)
    assert "now on stable at 100%" in p.stderr
    bad = run_ppm("release", "promote", "1.1.0", "--rollout", "150%", cwd=pub.root, env=env, check=False)
    assert bad.returncode == 2 and "between 0% and 100%" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_ppm("release", "promote", "9.9.9", cwd=pub.root, env=env, check=False)
    assert bad.returncode == 1 and "not published for any target" in bad.stderr
    bad = run_ppm("release", "promote", "1.0.0", "--channel", "stable", cwd=pub.root, env=env, check=False)
    assert bad.returncode == 1 and "moving it back" in bad.stderr
