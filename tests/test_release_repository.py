"""The release repository outlives dist/: where [release] puts it, what happens when dist/ or the
repository itself is lost (restore from the published URL, or refuse; never a new root), bundles
collected from separate runners, --plan, and the skipped compressed copy."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from test_update_support import (
    Published,
    make_install,
    make_project,
    needs_cc,
    output_of,
)

from helpers import run_ppm
from ppm.core.errors import ManifestError
from ppm.release.publish import ReleaseError
from ppm.release.restore import RestoreError
from ppm.release.tufrepo import TufRepository, serve
from ppm.update import client as update

pytestmark = needs_cc
pytest_plugins = ("test_update_support",)  # its fixtures: bins


def _set_url(pub: Published, url: str) -> None:
    toml = pub.root / "ppm.toml"
    toml.write_text(toml.read_text() + f'url = "{url}"\n')


def _mirror(pub: Published, site: Path) -> None:
    """Publish: copy the local repository to the directory the web server serves (as a deploy would)."""
    shutil.copytree(pub.repo, site, dirs_exist_ok=True)


def _keys_env(pub: Published) -> dict[str, str]:
    return {"PPM_KEYS_DIR": str(pub.keys_online), "PPM_ROOT_KEY_DIR": str(pub.keys_root)}


def test_losing_dist_changes_nothing_for_installs(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    inst = make_install(tmp_path / "inst", bins["1.0.0"], pub.root_json)
    shutil.rmtree(pub.root / "dist")
    rep = pub.publish("1.1.0", bins["1.1.0"])
    assert rep.targets[pub.target].patches[0].published  # the old bundle was in the repository, not dist/
    with serve(pub.repo) as url:
        info = update.check(url, inst.exe, root_json=inst.root_json)
        assert info.version == "1.1.0" and info.method == "patch"
        update.apply(info)
    assert output_of(inst.exe) == "1.1.0"


def test_lost_repository_is_restored_from_its_url_and_installs_keep_updating(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    site = tmp_path / "site"
    pub.publish("1.0.0", bins["1.0.0"])
    pub.publish("1.1.0", bins["1.1.0"])
    _mirror(pub, site)
    inst = make_install(tmp_path / "inst", bins["1.0.0"], pub.root_json)
    with serve(site) as url:
        _set_url(pub, url)
        update.apply(update.check(url, inst.exe, root_json=inst.root_json))  # the install now trusts v2 metadata
        before = TufRepository(pub.repo).timestamp().signed.version
        shutil.rmtree(pub.repo)
        shutil.rmtree(pub.root / "dist")
        said: list[str] = []
        rep = pub.publish("1.2.0", bins["1.2.0"], report=said.append)
        assert any("restoring it from" in s for s in said), said
        (p,) = [p for p in rep.targets[pub.target].patches if p.from_version == "1.1.0"]
        assert p.published  # the old bundle came back with the metadata
        assert TufRepository(pub.repo).timestamp().signed.version == before + 1  # counters continue
        _mirror(pub, site)
        info = update.check(url, inst.exe, root_json=inst.root_json)
        assert info.version == "1.2.0" and info.method == "patch"
        update.apply(info)
    assert output_of(inst.exe) == "1.2.0"


def test_lost_repository_without_url_refuses_and_no_command_makes_a_new_root(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    shutil.rmtree(pub.repo)
    with pytest.raises(ReleaseError, match="has signing keys") as e:
        pub.publish("1.1.0", bins["1.1.0"])
    assert "keys init" not in str(e.value) and "[release] url" in str(e.value)
    env = _keys_env(pub)
    (tmp_path / "collected" / pub.target).mkdir(parents=True)
    shutil.copy2(bins["1.1.0"], tmp_path / "collected" / pub.target / "app")
    p = run_ppm("release", "--collect", str(tmp_path / "collected"), "--version", "1.1.0", cwd=pub.root, env=env, check=False)
    assert p.returncode == 1 and "no release repository" in p.stderr and "keys init" not in p.stderr
    p = run_ppm("keys", "init", cwd=pub.root, env=env, check=False)
    assert p.returncode == 1 and "already has signing keys" in p.stderr and "--new-root only if you mean it" in p.stderr
    assert not pub.repo.exists()
    # Starting over is possible, but only when asked for by name.
    p = run_ppm("keys", "init", "--new-root", cwd=pub.root, env=env)
    assert (pub.repo / "metadata" / "1.root.json").is_file()


def test_keys_init_refuses_when_a_root_is_published(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    site = tmp_path / "site"
    _mirror(pub, site)
    with serve(site) as url:
        _set_url(pub, url)
        shutil.rmtree(pub.repo)
        env = {"PPM_KEYS_DIR": str(tmp_path / "fresh" / "online"), "PPM_ROOT_KEY_DIR": str(tmp_path / "fresh" / "root")}
        p = run_ppm("keys", "init", cwd=pub.root, env=env, check=False)
    assert p.returncode == 1 and f"a root is already published at {url}" in p.stderr
    assert not pub.repo.exists() and not (tmp_path / "fresh").exists()


def test_restore_refuses_someone_elses_repository(tmp_path: Path, bins: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ours = make_project(tmp_path / "ours")
    ours.publish("1.0.0", bins["1.0.0"])
    theirs = make_project(tmp_path / "theirs")
    theirs.publish("2.0.0", bins["1.1.0"])
    with serve(theirs.repo) as url:
        _set_url(ours, url)
        shutil.rmtree(ours.repo)
        # Without the root keys at hand (a CI runner has only the online ones), the online keys decide.
        with pytest.raises(RestoreError, match=r"targets keys of the repository published at .* are not in"):
            ours.publish("1.1.0", bins["1.1.0"])
        monkeypatch.setenv("PPM_ROOT_KEY_DIR", str(ours.keys_root))
        with pytest.raises(RestoreError, match="not created with the root keys"):
            ours.publish("1.1.0", bins["1.1.0"])
    assert not (ours.repo / "metadata" / "timestamp.json").exists()


def test_repository_inside_dist_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "ppm.toml").write_text('[project]\nname = "p"\n\n[release]\nrepository = "dist/releases/repository"\n')
    p = run_ppm("release", "--plan", cwd=tmp_path, check=False)
    assert p.returncode == 1 and "ppm.toml:5: release.repository" in p.stderr and "inside dist/" in p.stderr
    from ppm.release import config

    with pytest.raises(ManifestError, match=r"ppm.toml:5"):
        config.load(tmp_path, "p")
    (tmp_path / "ppm.toml").write_text('[project]\nname = "p"\n\n[release]\nurl = "ftp://x"\nwhat = 1\n')
    with pytest.raises(ManifestError, match=r"ppm.toml:6: unknown key release.what"):
        config.load(tmp_path, "p")


def test_collect_publishes_bundles_from_separate_runners_in_one_signing(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    # Two "runners", each building its own target into its own directory; the release job downloads
    # both artifacts (actions/download-artifact, merge-multiple) into one directory.
    collected = tmp_path / "collected"
    for target in (pub.target, "linux-aarch64"):
        runner = tmp_path / f"runner-{target}" / "dist" / target
        runner.mkdir(parents=True)
        shutil.copy2(bins["1.1.0"], runner / "app")
        shutil.copytree(runner.parent, collected / f"ppm-{target}", dirs_exist_ok=True)
        (collected / f"ppm-{target}" / target).rename(collected / f"ppm-{target}" / "tmp")
        shutil.move(collected / f"ppm-{target}" / "tmp" / "app", collected / f"ppm-{target}" / "app")
        (collected / f"ppm-{target}" / "tmp").rmdir()
    before = TufRepository(pub.repo).targets().signed.version
    p = run_ppm("release", "--version", "1.1.0", "--collect", str(collected), "--json", cwd=pub.root, env=_keys_env(pub))
    rep = json.loads(p.stdout)
    assert set(rep["targets"]) == {pub.target, "linux-aarch64"}
    assert rep["targets_version"] == before + 1  # signed once for every target
    inst = make_install(tmp_path / "inst", bins["1.0.0"], pub.root_json)
    with serve(pub.repo) as url:
        assert update.check(url, inst.exe, root_json=inst.root_json).version == "1.1.0"
        other = make_install(tmp_path / "inst-arm", bins["1.0.0"], pub.root_json)
        info = update.check(url, other.exe, root_json=other.root_json, target="linux-aarch64")
        assert info.version == "1.1.0" and info.method != "patch"  # no 1.0.0 for that target to patch from


@pytest.mark.parametrize(("layout", "message"), [
    ({"windows-x86_64/app.exe": b"x", "windows-x86_64/other": b"y"}, "expected exactly one bundle"),
    ({"../escape/app": b"x", "linux-risc/app": b"x"}, "is not a target"),
    ({}, "holds no bundles"),
])
def test_collect_refuses_what_it_cannot_trust(tmp_path: Path, layout: dict[str, bytes], message: str) -> None:
    pub = make_project(tmp_path)
    collected = tmp_path / "collected"
    collected.mkdir()
    for rel, data in layout.items():
        (collected / rel).parent.mkdir(parents=True, exist_ok=True)
        (collected / rel).write_bytes(data)
    p = run_ppm("release", "--collect", str(collected), cwd=pub.root, env=_keys_env(pub), check=False)
    assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr


def test_collect_refuses_a_link_out_of_the_directory(tmp_path: Path) -> None:
    pub = make_project(tmp_path)
    d = tmp_path / "collected" / "linux-x86_64"
    d.mkdir(parents=True)
    (d / "app").symlink_to("/etc/passwd")
    p = run_ppm("release", "--collect", str(tmp_path / "collected"), cwd=pub.root, env=_keys_env(pub), check=False)
    assert p.returncode == 1 and "not a link" in p.stderr


def test_plan_says_what_would_be_published_and_changes_nothing(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    pub.publish("1.1.0", bins["1.1.0"])
    before = sorted(p.name for p in (pub.repo / "metadata").iterdir())
    p = run_ppm("release", "--plan", "--json", "--version", "1.2.0", "--channel", "beta", "--rollout", "10%", cwd=pub.root)
    plan = json.loads(p.stdout)
    assert plan["version"] == "1.2.0" and plan["channel"] == "beta" and plan["rollout"] == 10
    assert plan["targets"][pub.target]["patches_from"] == ["1.0.0", "1.1.0"] and plan["problems"] == []
    p = run_ppm("release", "--plan", "--version", "1.0.5", cwd=pub.root)
    assert "would refuse: version 1.0.5 is lower than the newest published version 1.1.0" in p.stderr
    assert sorted(p.name for p in (pub.repo / "metadata").iterdir()) == before


def test_compressed_copy_is_skipped_when_it_saves_little(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    # An already-compressed bundle (a PyInstaller one is zlib inside): zstd cannot shrink it.
    noise = tmp_path / "noise"
    noise.write_bytes(bins["1.1.0"].read_bytes() + random.Random(3).randbytes(400_000))
    rep = pub.publish("1.1.0", noise)
    tr = rep.targets[pub.target]
    assert not tr.compressed and "under the 5% threshold" in tr.compress_note and tr.compressed_size == tr.size
    d = pub.root / "dist" / "releases" / "1.1.0" / pub.target
    assert not list(d.glob("*.zst"))
    assert not [k for k in TufRepository(pub.repo).targets().signed.targets if k.endswith(".zst") and "/1.1.0/" in k]
    inst = make_install(tmp_path / "inst", bins["1.0.0"], pub.root_json)
    with serve(pub.repo) as url:
        info = update.check(url, inst.exe, root_json=inst.root_json)
        assert [c.kind for c in info.candidates] in (["patch", "bundle"], ["bundle"])
    # The threshold is the project's to set.
    toml = pub.root / "ppm.toml"
    toml.write_text(toml.read_text() + "compress-min-saving = 0\n")
    assert pub.publish("1.2.0", noise).targets[pub.target].compressed


def test_first_release_without_keys_points_at_keys_init_only_as_the_last_resort(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "ppm.toml").write_text('[project]\nname = "p"\nversion = "0.1.0"\n\n[release]\nrepository = "../repo"\n')
    env = {"PPM_KEYS_DIR": str(tmp_path / "k" / "online"), "PPM_ROOT_KEY_DIR": str(tmp_path / "k" / "root")}
    (tmp_path / "c" / "linux-x86_64").mkdir(parents=True)
    (tmp_path / "c" / "linux-x86_64" / "app").write_bytes(b"\x7fELF")
    p = run_ppm("release", "--collect", str(tmp_path / "c"), cwd=root, env=env, check=False)
    assert p.returncode == 1 and "no release repository" in p.stderr
    assert "if this project has released before" in p.stderr and "Only for a first release: `ppm keys init`" in p.stderr
    assert not (tmp_path / "repo").exists() and not (tmp_path / "k").exists()
