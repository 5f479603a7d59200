"""`ppm release`, `ppm keys`, `ppm serve-updates`: layout, refusals, patch selection, signed
metadata contents, secrets kept out, and the CLI end to end on a real C project."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from test_update_support import Published, make_project, needs_cc

from helpers import run_ppm
from ppm.release.publish import ReleaseError, published_versions
from ppm.release.tufrepo import TufRepository

pytestmark = needs_cc
pytest_plugins = ("test_update_support",)  # its fixtures: bins, published, server, install


def _custom(pub: Published, path: str) -> dict:
    return TufRepository(pub.repo).targets().signed.targets[path].custom["ppm"]


def test_layout_report_and_signed_custom_fields(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    rep = pub.publish("1.1.0", bins["1.1.0"])
    t = pub.target
    d = pub.root / "dist" / "releases" / "1.1.0" / t
    assert {p.name for p in d.iterdir()} == {"app", "app.zst", "app.from-1.0.0.patch", "report.json", "latest.json"}
    report = json.loads((d / "report.json").read_text())
    (patch,) = report["patches"]
    assert patch["published"] and patch["from_version"] == "1.0.0" and 0 < patch["ratio"] < 0.8
    assert report["compressed_size"] < report["size"] and report["compress_seconds"] >= 0
    assert rep.targets[t].patches[0].size == (d / "app.from-1.0.0.patch").stat().st_size
    c = _custom(pub, f"{t}/1.1.0/app.from-1.0.0.patch")
    old_tf = TufRepository(pub.repo).targets().signed.targets[f"{t}/1.0.0/app"]
    assert c["from_version"] == "1.0.0" and c["old_sha256"] == old_tf.hashes["sha256"]
    assert c["old_length"] == old_tf.length and c["decoder_memory"] > 0 and c["kind"] == "patch"
    z = _custom(pub, f"{t}/1.1.0/app.zst")
    assert z["kind"] == "compressed" and z["decoder_memory"] > 0
    assert published_versions(TufRepository(pub.repo))[t].keys() == {"1.0.0", "1.1.0"}


def test_refuses_same_or_lower_version_unless_forced(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    pub.publish("1.1.0", bins["1.1.0"])
    with pytest.raises(ReleaseError, match="already published"):
        pub.publish("1.1.0", bins["1.1.0"])
    with pytest.raises(ReleaseError, match="lower than the newest"):
        pub.publish("1.0.0", bins["1.0.0"])
    with pytest.raises(ReleaseError, match="not a version"):
        pub.publish("banana", bins["1.0.0"])
    pub.publish("1.0.0", bins["1.0.0"], force=True)
    # A forced older version does not become the latest.
    latest = json.loads(pub.served_file(f"{pub.target}/latest.json").read_text())
    assert latest["version"] == "1.1.0"
    pub.publish("1.1.0", bins["1.2.0"], force=True)  # replaced in place
    tf = TufRepository(pub.repo).targets().signed.targets[f"{pub.target}/1.1.0/app"]
    from ppm.core.fsutil import sha256_file

    assert tf.hashes["sha256"] == sha256_file(bins["1.2.0"])


def test_patches_from_last_n_and_only_when_clearly_smaller(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    for v in ["1.0.0", "1.1.0", "1.2.0"]:
        pub.publish(v, bins[v])
    rep = pub.publish("1.3.0", bins["bad"], from_n=2)
    assert [p.from_version for p in rep.targets[pub.target].patches] == ["1.1.0", "1.2.0"]
    # A completely different executable: a patch would be as big as the full file.
    other = tmp_path / "other.c"
    rnd = random.Random(99)
    other.write_text(textwrap.dedent(f"""\
        #include <stdio.h>
        static const unsigned char t[] = {{{",".join(str(b) for b in rnd.randbytes(40000))}}};
        int main(void) {{ printf("%d\\n", t[7]); return 0; }}
        """))
    exe = tmp_path / "other"
    subprocess.run(["cc", "-o", str(exe), str(other)], check=True)
    rep = pub.publish("2.0.0", exe, from_n=1)
    (p,) = rep.targets[pub.target].patches
    assert not p.published and "not worth it" in p.reason and p.ratio > 0.8
    d = pub.root / "dist" / "releases" / "2.0.0" / pub.target
    assert not list(d.glob("*.patch"))
    assert not [k for k in TufRepository(pub.repo).targets().signed.targets if k.startswith(f"{pub.target}/2.0.0/") and k.endswith(".patch")]


def test_metadata_versions_only_go_up_and_secrets_stay_out(tmp_path: Path, bins: dict[str, Path]) -> None:
    pub = make_project(tmp_path)
    repo = TufRepository(pub.repo)
    seen = []
    for v in ["1.0.0", "1.1.0", "1.2.0"]:
        pub.publish(v, bins[v])
        seen.append((repo.timestamp().signed.version, repo.snapshot().signed.version, repo.targets().signed.version))
    assert seen == sorted(seen) and len(set(seen)) == 3
    for p in list(pub.root.rglob("*")):
        if p.is_file():
            assert b"PRIVATE KEY" not in p.read_bytes(), p
    keys = list(pub.keys_root.glob("*.pem")) + list(pub.keys_online.glob("*.pem"))
    assert len(keys) == 4 and all((k.stat().st_mode & 0o777) == 0o600 for k in keys)
    # Only the root keys can sign root; the online directory holds none of them.
    root_ids = set(repo.root().signed.roles["root"].keyids)
    assert not {k.stem for k in pub.keys_online.glob("*.pem")} & root_ids
    for p in (pub.repo / "metadata").iterdir():
        assert p.stat().st_mode & 0o044 == 0o044  # world-readable for any static server


def test_keys_cli(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "ppm.toml").write_text('[project]\nname = "p"\nversion = "0.1.0"\n\n[release]\nrepository = "../repo"\n')
    env = {"PPM_KEYS_DIR": str(tmp_path / "k" / "online"), "PPM_ROOT_KEY_DIR": str(tmp_path / "k" / "root")}
    p = run_ppm("keys", "init", "--root-keys", "3", "--threshold", "2", "--json", cwd=root, env=env)
    out = json.loads(p.stdout)
    assert out["root_version"] == 1 and out["thresholds"]["root"] == 2 and len(out["keyids"]["root"]) == 3
    p = run_ppm("keys", "init", cwd=root, env=env, check=False)
    assert p.returncode == 1 and "already has a root.json" in p.stderr
    p = run_ppm("keys", "rotate", "--role", "timestamp", "--json", cwd=root, env=env)
    assert json.loads(p.stdout)["root_version"] == 2
    # Keys inside the project are refused: they would end up committed or published.
    p = run_ppm("keys", "rotate", "--keys-dir", str(root / "keys"), cwd=root, env=env, check=False)
    assert p.returncode == 1 and "must not be published or committed" in p.stderr
    # Rotating root without the root keys is refused with a hint.
    p = run_ppm("keys", "rotate", "--root-key-dir", str(tmp_path / "nowhere"), cwd=root, env=env, check=False)
    assert p.returncode == 1 and "current root keys" in p.stderr


def test_release_cli_builds_then_serve_and_update(tmp_path: Path, ppm_cache: Path) -> None:
    """The whole flow as a user runs it: keys init, ppm release (building a C project), a second
    release with a patch, ppm serve-updates, ppm update."""
    root = tmp_path / "hello"
    (root / "app" / "src").mkdir(parents=True)
    (root / "ppm.toml").write_text(textwrap.dedent("""\
        [project]
        name = "hello"
        version = "1.0.0"
        entry = "app"

        [components.app]
        builder = "cc"
        path = "app"
        kind = "executable"

        [release]
        repository = "../repo"
        """))
    rnd = random.Random(5)
    blob = ",".join(str(b) for b in rnd.randbytes(30000))
    src = textwrap.dedent("""\
        #include <stdio.h>
        #include <string.h>
        static const unsigned char t[] = {%s};
        int main(int argc, char **argv) {
            if (argc > 1 && strcmp(argv[1], "--self-check") == 0) return t[0] == %d ? 0 : 1;
            printf("hello VERSION\\n"); return 0;
        }
        """) % (blob, int(blob.split(",")[0]))
    (root / "app" / "src" / "main.c").write_text(src.replace("VERSION", "1"))
    env = {"PPM_KEYS_DIR": str(tmp_path / "k" / "online"), "PPM_ROOT_KEY_DIR": str(tmp_path / "k" / "root")}
    run_ppm("keys", "init", cwd=root, env=env)
    p = run_ppm("release", cwd=root, env=env)
    assert "released hello 1.0.0" in p.stderr
    p = run_ppm("release", cwd=root, env=env, check=False)
    assert p.returncode == 1 and "already published" in p.stderr and "Traceback" not in p.stderr
    (root / "app" / "src" / "main.c").write_text(src.replace("VERSION", "2"))
    p = run_ppm("release", "--version", "1.1.0", "--json", cwd=root, env=env)
    rep = json.loads(p.stdout)
    (t,) = rep["targets"]
    assert rep["targets"][t]["patches"][0]["published"]

    inst = tmp_path / "inst"
    inst.mkdir()
    (inst / "hello").write_bytes((root / "dist" / "releases" / "1.0.0" / t / "app").read_bytes())
    os.chmod(inst / "hello", 0o755)
    srv = subprocess.Popen([sys.executable, "-m", "ppm", "serve-updates", "--port", "0"], cwd=root,
                           stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stderr.readline()
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "metadata/timestamp.json", timeout=10) as r:
            assert json.loads(r.read())["signed"]["_type"] == "timestamp"
        p = run_ppm("update", "--repo", url, "--install", str(inst / "hello"), "--current-version", "1.0.0",
                    "--root", str(tmp_path / "repo" / "metadata" / "root.json"),
                    cwd=tmp_path)
        assert "1.0.0 → 1.1.0 via patch" in p.stderr
        assert subprocess.run([str(inst / "hello")], capture_output=True, text=True).stdout == "hello 2\n"
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_report_percentages_keep_small_patches_visible() -> None:
    from ppm.cli.release import _pct

    assert [_pct(x) for x in (0.000144, 0.05, 0.5, 0.99, 0)] == ["0.014%", "5%", "50%", "99%", "0%"]


def test_published_bundle_does_not_share_the_build_output(tmp_path: Path, bins: dict[str, Path]) -> None:
    # dist/<target>/app gets stripped, signed or rewritten in place after a release; the published,
    # signed copy must not change with it.
    pub = make_project(tmp_path)
    pub.publish("1.0.0", bins["1.0.0"])
    built = pub.root / "build-out" / "1.0.0" / "app"
    published = pub.root / "dist" / "releases" / "1.0.0" / pub.target / "app"
    assert built.stat().st_ino != published.stat().st_ino
    before = published.read_bytes()
    with built.open("r+b") as f:
        f.write(b"\0" * 16)
    assert published.read_bytes() == before
    assert pub.served_file(f"{pub.target}/1.0.0/app").read_bytes() == before
