"""The update client against a real repository served on 127.0.0.1: patch, fallbacks, self-check
rollback, manual rollback, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_update_support import (
    Install,
    Published,
    needs_cc,
    output_of,
    run_update_subprocess,
)

from ppm.update import client as update

pytestmark = needs_cc
pytest_plugins = ("test_update_support",)  # its fixtures: bins, published, server, install


def test_patch_update_then_rollback(published: Published, server: str, install: Install) -> None:
    info = update.check(server, install.exe, "1.0.0", root_json=install.root_json)
    assert info is not None and info.version == "1.1.0" and info.method == "patch"
    assert [c.kind for c in info.candidates] == ["patch", "compressed", "bundle"]
    # The patch is the cheapest download by far.
    assert info.download_size < info.candidates[1].length < info.candidates[2].length
    res = update.apply(info)
    assert res.method == "patch" and res.fallbacks == []
    assert output_of(install.exe) == "1.1.0"
    # Up to date now; the installed version is remembered.
    assert update.check(server, install.exe, root_json=install.root_json) is None
    assert update.rollback(install.exe) == "1.0.0"
    assert output_of(install.exe) == "1.0.0"
    # A rolled-back version is not offered again…
    assert update.check(server, install.exe, root_json=install.root_json) is None
    # …but a newer one is, from the restored version, and no stray files are left beside the install.
    assert not [p for p in install.dir.iterdir() if p.name not in {"app", "root.json", ".app.ppm-update"}]


def test_unrecorded_install_is_recognised_by_its_hash(published: Published, server: str, install: Install) -> None:
    # 1.0.0's file, copied in by hand (no state, no --current-version): the signed patch metadata
    # names the file the patch applies to, so the client knows it is 1.0.0 and takes the patch.
    info = update.check(server, install.exe, root_json=install.root_json)
    assert info is not None and info.current_version == "1.0.0" and info.method == "patch"
    res = update.apply(info)
    assert res.method == "patch" and res.previous_version == "1.0.0"
    assert output_of(install.exe) == "1.1.0"
    assert update.rollback(install.exe) == "1.0.0"
    assert update.rejected_versions(install.exe) == ["1.1.0"]


def test_unknown_installed_file_gets_compressed_bundle(published: Published, server: str, install: Install) -> None:
    install.exe.write_bytes(install.exe.read_bytes() + b"local change")  # no published version's file
    info = update.check(server, install.exe, root_json=install.root_json)
    assert info is not None and info.current_version is None and info.method == "compressed"
    assert update.apply(info).method == "compressed"
    assert output_of(install.exe) == "1.1.0"


def test_installed_file_not_matching_patch_source_gets_full(published: Published, server: str, install: Install,
                                                            bins: dict[str, Path]) -> None:
    install.exe.write_bytes(bins["1.2.0"].read_bytes())  # says 1.0.0 but is not 1.0.0's file
    info = update.check(server, install.exe, "1.0.0", root_json=install.root_json)
    assert info is not None and info.method == "compressed"
    assert any("not the one it applies to" in s for s in info.skipped)


def test_decoder_memory_checked_before_download(published: Published, server: str, install: Install) -> None:
    info = update.check(server, install.exe, "1.0.0", root_json=install.root_json, max_memory=1 << 20)
    assert info is not None and info.method == "bundle"
    assert any("MiB" in s for s in info.skipped)


def test_no_downgrade(published: Published, server: str, install: Install, bins: dict[str, Path]) -> None:
    install.exe.write_bytes(bins["1.2.0"].read_bytes())
    assert update.check(server, install.exe, "1.2.0", root_json=install.root_json) is None


def test_truncated_patch_falls_back_to_full(published: Published, server: str, install: Install) -> None:
    served = published.served_file(f"{published.target}/1.1.0/app.from-1.0.0.patch")
    served.write_bytes(served.read_bytes()[:100])
    res = update.update(server, install.exe, "1.0.0", root_json=install.root_json)
    assert res is not None and res.method == "compressed"
    assert "patch" in res.fallbacks[0] and "Length" in res.fallbacks[0]
    assert output_of(install.exe) == "1.1.0"


def test_corrupt_but_signed_patch_falls_back_to_full(published: Published, server: str, install: Install) -> None:
    """A patch that passes the signed hash (the publisher signed a bad one) but does not decode."""
    from ppm.release.keys import online_signers
    from ppm.release.tufrepo import Expiry, TufRepository

    repo = TufRepository(published.repo)
    tp = f"{published.target}/1.1.0/app.from-1.0.0.patch"
    old_tf = repo.targets().signed.targets[tp]
    bad = published.root / "bad.patch"
    data = bytearray(repo.file_path(tp, old_tf).read_bytes())
    data[-20:] = bytes(20)
    bad.write_bytes(bytes(data))
    tf = repo.add_file(tp, bad, old_tf.custom)
    repo.publish(online_signers(repo, published.keys_online), Expiry(), add={tp: tf})
    res = update.update(server, install.exe, "1.0.0", root_json=install.root_json)
    assert res is not None and res.method == "compressed"
    assert "PatchError" in res.fallbacks[0]
    assert output_of(install.exe) == "1.1.0"


def test_failing_self_check_rolls_back(published: Published, server: str, install: Install,
                                       bins: dict[str, Path]) -> None:
    published.publish("1.2.0", bins["bad"])
    with pytest.raises(update.SelfCheckFailed, match=r"1\.2\.0 failed its --self-check"):
        update.update(server, install.exe, "1.0.0", root_json=install.root_json)
    assert output_of(install.exe) == "1.0.0"
    # The bad version is not offered again; the next good one is.
    assert update.check(server, install.exe, root_json=install.root_json) is None
    published.publish("1.3.0", bins["1.2.0"])
    res = update.update(server, install.exe, root_json=install.root_json)
    assert res is not None and res.version == "1.3.0"
    assert output_of(install.exe) == "1.2.0"  # the 1.2.0 binary, published as 1.3.0


def test_rollback_without_previous_is_clear(install: Install) -> None:
    with pytest.raises(update.UpdateError, match="no previous version"):
        update.rollback(install.exe)


def test_no_trusted_root_is_clear(published: Published, server: str, install: Install) -> None:
    with pytest.raises(update.UpdateError, match="no trusted root"):
        update.check(server, install.exe)


def test_cli_update_and_rollback(published: Published, server: str, install: Install) -> None:
    p = run_update_subprocess(server, install, "--check", "--json", "--current-version", "1.0.0")
    assert p.returncode == 100, p.stderr  # an update exists
    assert json.loads(p.stdout)["update"]["method"] == "patch"
    p = run_update_subprocess(server, install, "--current-version", "1.0.0")
    assert p.returncode == 0, p.stderr
    assert "1.0.0 → 1.1.0 via patch" in p.stderr + p.stdout
    assert output_of(install.exe) == "1.1.0"
    p = run_update_subprocess(server, install)
    assert "up to date" in p.stderr + p.stdout
    assert run_update_subprocess(server, install, "--check").returncode == 0  # none exists
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "ppm", "update", "--install", str(install.exe), "--rollback"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert output_of(install.exe) == "1.0.0"
    p = run_update_subprocess(server, install)  # says why 1.1.0 is not taken again
    assert p.returncode == 0 and "not offered again: 1.1.0" in p.stderr + p.stdout


def test_unreachable_or_wrong_repository_is_named_plainly(published: Published, server: str, install: Install) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = install.exe.read_bytes()
    with pytest.raises(update.UpdateError, match=r"cannot reach the update repository at http://127\.0\.0\.1:\d+/: .*refused") as e:
        update.check(f"http://127.0.0.1:{port}/", install.exe, root_json=install.root_json)
    assert "under attack" not in str(e.value)
    with pytest.raises(update.UpdateError, match=r"update repository at .*/nope/ answered HTTP 404"):
        update.check(server.rstrip("/") + "/nope/", install.exe, root_json=install.root_json)
    assert install.exe.read_bytes() == before


def test_missing_install_path_is_an_error_not_a_fresh_install(published: Published, server: str, install: Install) -> None:
    ghost = install.dir / "ap"  # a typo
    with pytest.raises(update.UpdateError, match="does not exist or is not a file: nothing to update"):
        update.check(server, ghost, root_json=install.root_json)
    assert not ghost.exists() and not update.state_dir_for(ghost).exists()
