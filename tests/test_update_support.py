"""Shared pieces for the release/update tests (no tests here): tiny real executables compiled
with the C compiler, a published repository, a local HTTP server, an install directory."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler on PATH")


def _c_source(label: str, seed: int, self_check_rc: int) -> str:
    # A 48 kB table of incompressible bytes, nearly the same in every version: the compressed
    # bundle stays big, a patch between neighbours stays small, as with real releases.
    rnd = random.Random(1234)
    blob = bytearray(rnd.randbytes(48 * 1024))
    r2 = random.Random(seed)
    for _ in range(seed * 8):
        blob[r2.randrange(len(blob))] = r2.randrange(256)
    table = ",".join(str(b) for b in blob)
    return textwrap.dedent(f"""\
        #include <stdio.h>
        #include <string.h>
        static const unsigned char table[] = {{{table}}};
        int main(int argc, char **argv) {{
            unsigned s = 0;
            for (unsigned i = 0; i < sizeof table; i++) s = s * 31 + table[i];
            if (argc > 1 && strcmp(argv[1], "--self-check") == 0) return {self_check_rc};
            printf("{label} %u\\n", s);
            return 0;
        }}
        """)


def compile_version(out: Path, label: str, seed: int, self_check_rc: int = 0) -> Path:
    src = out.with_suffix(".c")
    src.write_text(_c_source(label, seed, self_check_rc))
    subprocess.run([CC, "-O1", "-o", str(out), str(src)], check=True)
    return out


@pytest.fixture(scope="session")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1, v2, v3 (good), and bad (its --self-check fails)."""
    if CC is None:
        pytest.skip("no C compiler on PATH")
    d = tmp_path_factory.mktemp("bins")
    return {
        "1.0.0": compile_version(d / "app-1", "app 1.0.0", 1),
        "1.1.0": compile_version(d / "app-2", "app 1.1.0", 2),
        "1.2.0": compile_version(d / "app-3", "app 1.2.0", 3),
        "bad": compile_version(d / "app-bad", "app bad", 4, self_check_rc=3),
    }


def output_of(exe: Path) -> str:
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=30).stdout.split()[1]


@dataclass
class Published:
    """A project with keys and published releases."""

    root: Path
    keys_root: Path
    keys_online: Path
    target: str

    @property
    def repo(self) -> Path:
        return self.root.parent / "repo"  # [release] repository: outside dist/, as in real projects

    @property
    def root_json(self) -> Path:
        return self.repo / "metadata" / "root.json"

    def publish(self, version: str, exe: Path, **kw: object) -> object:
        from ppm.release.publish import release

        app = self.root / "build-out" / version / "app"
        app.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(exe, app)
        return release(self.root, version=version, bundles={self.target: app}, keys_dir=self.keys_online, **kw)

    def served_file(self, target_path: str) -> Path:
        """The file a client downloads for `target_path` (hash-prefixed, consistent snapshots)."""
        from ppm.release.tufrepo import TufRepository

        repo = TufRepository(self.repo)
        tf = repo.targets().signed.targets[target_path]
        return repo.file_path(target_path, tf)


def make_project(tmp: Path, name: str = "app", root_keys: int = 1, threshold: int = 1) -> Published:
    from ppm.release.keys import KeyDirs, init_keys
    from ppm.release.publish import repository_dir
    from ppm.release.tufrepo import TufRepository
    from ppm.targets import host

    root = tmp / "proj"
    root.mkdir(parents=True)
    (root / "ppm.toml").write_text(f'[project]\nname = "{name}"\nversion = "1.0.0"\n\n[release]\nrepository = "../repo"\n')
    pub = Published(root, tmp / "keys" / "root", tmp / "keys" / "online", host().name)
    init_keys(TufRepository(repository_dir(root)), KeyDirs(pub.keys_root, pub.keys_online),
              root_keys=root_keys, threshold=threshold)
    return pub


@pytest.fixture
def published(tmp_path: Path, bins: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Published:
    """Versions 1.0.0 and 1.1.0 published (1.1.0 with a patch from 1.0.0)."""
    pub = make_project(tmp_path)
    monkeypatch.setenv("PPM_KEYS_DIR", str(pub.keys_online))
    monkeypatch.setenv("PPM_ROOT_KEY_DIR", str(pub.keys_root))
    pub.publish("1.0.0", bins["1.0.0"])
    pub.publish("1.1.0", bins["1.1.0"])
    return pub


@pytest.fixture
def server(published: Published) -> Iterator[str]:
    from ppm.release.tufrepo import serve

    with serve(published.repo) as url:
        yield url


@dataclass
class Install:
    dir: Path
    exe: Path
    root_json: Path


def make_install(where: Path, exe: Path, root_json: Path) -> Install:
    where.mkdir(parents=True, exist_ok=True)
    dest = where / "app"
    shutil.copy2(exe, dest)
    shutil.copy2(root_json, where / "root.json")
    return Install(where, dest, where / "root.json")


@pytest.fixture
def install(tmp_path: Path, published: Published, bins: dict[str, Path]) -> Install:
    """Version 1.0.0 installed, with the root.json shipped beside it."""
    return make_install(tmp_path / "install", bins["1.0.0"], published.root_json)


def run_update_subprocess(url: str, inst: Install, *args: str, env: dict[str, str] | None = None,
                          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "ppm", "update", "--repo", url, "--install", str(inst.exe),
                           "--root", str(inst.root_json), *args], capture_output=True, text=True, env=e, timeout=timeout)
