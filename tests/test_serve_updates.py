"""`ppm serve-updates` serves the repository's files and nothing else: no listings, nothing a
symbolic link inside the repository points at outside it."""

from __future__ import annotations

import os

import httpx

from ppm.release.tufrepo import serve


def test_serves_files_only_inside_the_repository(tmp_path):
    repo = tmp_path / "repo"
    (repo / "metadata").mkdir(parents=True)
    (repo / "metadata" / "1.root.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("private key")
    os.symlink(secret, repo / "metadata" / "leak.json")
    os.symlink(tmp_path, repo / "up")
    (repo / "inner.txt").write_text("inner")
    os.symlink(repo / "inner.txt", repo / "alias.txt")  # a link that stays inside is fine
    with serve(repo) as url:
        get = lambda p: httpx.get(url + p, timeout=10)  # noqa: E731
        assert get("metadata/1.root.json").status_code == 200
        assert get("alias.txt").text == "inner"
        for path in ("metadata/leak.json", "up/secret.txt", "", "metadata/", "up/", "../secret.txt", "%2e%2e/secret.txt"):
            r = get(path)
            assert r.status_code == 404, (path, r.status_code, r.text[:80])
            assert "private key" not in r.text and "1.root.json" not in r.text
