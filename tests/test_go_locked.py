"""The go builder against modules locked in ppm.lock: `ppm lock` resolves them from a real
HTTP server speaking the Go module proxy protocol on 127.0.0.1, `ppm build` syncs them
(hash-checked) into a file:// module tree and runs `go build` with GOPROXY pointing only there; go checks every module against go.sum, so a
vendored zip changed after the lock is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from helpers import run_ppm
from registry_server import RegistryServer, go_module

MANIFEST = """\
[project]
name = "gl"
entry = "app"

[components.app]
builder = "go"
exe = "gl"

[components.app.dependencies.go]
"example.com/greet" = "v1.1.0"
"""


def test_go_builds_offline_against_the_locked_modules(tmp_path: Path, ppm_cache: Path) -> None:
    from ppm import toolchains

    if not toolchains.resolve(["go"], provision=False)["go"].usable:
        pytest.skip("Go is not installed")
    reg = tmp_path / "reg"
    go_module(reg, "example.com/greet", {"v1.0.0": [], "v1.1.0": []},
              files={"greet.go": 'package greet\n\nfunc Hello() string { return "hello from example.com/greet" }\n'})
    root = tmp_path / "gl"
    (root / "app").mkdir(parents=True)
    (root / "ppm.toml").write_text(MANIFEST)
    (root / "app/go.mod").write_text("module example.com/gl\n\ngo 1.22\n")
    (root / "app/main.go").write_text('package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
                                      "func main() { fmt.Println(greet.Hello()) }\n")
    with RegistryServer(reg) as srv:
        env = {**srv.env(), "PPM_OFFLINE": "0"}
        run_ppm("lock", cwd=root, env=env)
        s = json.loads(run_ppm("build", "--json", cwd=root, env=env).stdout)
        assert s["actions_executed"] == 1
        assert "example.com/greet v1.1.0 h1:" in (root / "app/go.sum").read_text()
        out = subprocess.run([str(root / "dist/linux-x86_64/gl")], capture_output=True, text=True, timeout=60).stdout
        assert out == "hello from example.com/greet\n"

        # Modules extracted on an earlier run and changed since: `go mod verify` refuses them.
        (extracted,) = (root / ".ppm/incremental/linux-x86_64/app/go-mod/example.com").glob("greet@v1.1.0")
        greet = extracted / "greet.go"
        greet.chmod(0o644)
        greet.write_text(greet.read_text().replace("hello", "HACKED"))
        main = root / "app/main.go"
        main.write_text(main.read_text() + "\n// rebuild\n")
        p = run_ppm("build", cwd=root, check=False, env=env)
        assert p.returncode == 1 and "app:build failed" in p.stderr, p.stderr
        assert "example.com/greet v1.1.0: dir has been modified" in p.stderr, p.stderr

        # A module tree that no longer matches go.sum (a restored cache, a tampered vendor dir):
        # go checks the zip against go.sum when it extracts it, and refuses it.
        subprocess.run(["chmod", "-R", "u+w", str(root / ".ppm/incremental")], check=True)  # go's cache is read-only
        shutil.rmtree(root / ".ppm/incremental")
        z = root / ".ppm/vendor/go/example.com/greet/@v/v1.1.0.zip"
        with zipfile.ZipFile(z, "a") as f:
            f.writestr("example.com/greet@v1.1.0/evil.go", "package greet\n\nfunc init() { panic(1) }\n")
        p = run_ppm("build", cwd=root, check=False, env={**env, "PPM_CACHE_DIR": str(tmp_path / "other-cache")})
    assert p.returncode == 1 and "app:build failed" in p.stderr, p.stderr
    assert "verifying example.com/greet@v1.1.0" in p.stderr and "checksum mismatch" in p.stderr, p.stderr
