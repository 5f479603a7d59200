"""Lock timings, each ratio measured within one run of this script:

  1. `ppm lock` on an unchanged manifest vs `ppm --version` (local registry server; medians).
  2. A warm-cache full re-resolve of a 50+ package PyPI set (real PyPI): `ppm lock --upgrade` vs
     `pip-compile --upgrade` (pip-tools) and `uv pip compile --upgrade`, same requirements, each
     tool's cache warmed by one run first (medians of 3).
  3. A cold lock of the template's five ecosystems (real registries, empty caches) vs the sum of
     the five native resolvers run one after another, each with an empty cache: `uv pip compile`,
     `npm install --package-lock-only`, `cargo generate-lockfile`, `go list -m all`, and
     `mvn dependency:list`.

Run: python tests/benchmarks/bench_lock.py [--local-only] [--venv DIR]
(DIR holds pip-tools and uv: `python -m venv DIR && DIR/bin/pip install pip-tools uv`.)
Writes tests/benchmarks/results/lock.md."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from registry_server import RegistryServer  # noqa: E402

NOOP_MANIFEST = """[project]
name = "bench"
targets = ["linux-x86_64", "windows-x86_64"]

[dependencies.pypi]
anyio = ""
[dependencies.npm]
is-odd = "*"
[dependencies.cargo]
itoa = "1"
ryu = "1"
[dependencies.go]
"github.com/google/uuid" = "v1.6.0"
[dependencies.maven]
"org.slf4j:slf4j-api" = "2.0.13"
"""

PYPI_SET = ["fastapi>=0.110", "uvicorn>=0.29", "httpx>=0.27", "rich>=13", "typer>=0.12", "pydantic-settings>=2",
            "sqlalchemy>=2", "alembic>=1.13", "jinja2>=3", "flask>=3", "requests>=2.31", "pytest>=8", "black>=24",
            "mypy>=1.10", "boto3>=1.34", "celery>=5.3", "redis>=5", "pyyaml>=6", "attrs>=23", "cryptography>=42"]

FIVE = {
    "pypi": {"httpx": ">=0.27", "rich": ">=13", "click": ">=8", "pydantic": ">=2", "requests": ">=2"},
    "npm": {"preact": "^10", "express": "^4", "chalk": "^5", "commander": "^12"},
    "cargo": {"serde": '{ version = "1", features = ["derive"] }', "regex": "1", "anyhow": "1", "clap": '{ version = "4", features = ["derive"] }'},
    "go": {"github.com/google/uuid": "v1.6.0", "golang.org/x/text": "v0.14.0", "github.com/spf13/cobra": "v1.8.0"},
    "maven": {"com.google.guava:guava": "33.0.0-jre", "org.slf4j:slf4j-api": "2.0.13", "com.fasterxml.jackson.core:jackson-databind": "2.17.0"},
}


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return dt


def ppm_env(cache: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPM_REGISTRY_")}
    env.update({"PPM_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)})
    env.update(extra or {})
    return env


PPM = [sys.executable, "-m", "ppm"]


def bench_noop(tmp: Path, out: list[str]) -> None:
    with RegistryServer() as srv:
        proj = tmp / "noop"
        proj.mkdir()
        (proj / "ppm.toml").write_text(NOOP_MANIFEST)
        env = ppm_env(tmp / "noop-cache", srv.env())
        timed(PPM + ["lock"], proj, env)
        for _ in range(2):  # warm the OS caches for both
            timed(PPM + ["--version"], proj, env)
            timed(PPM + ["lock"], proj, env)
        ver, noop, check = [], [], []
        for _ in range(11):  # interleaved, so drift hits both alike
            ver.append(timed(PPM + ["--version"], proj, env))
            noop.append(timed(PPM + ["lock"], proj, env))
            check.append(timed(PPM + ["lock", "--check"], proj, env))
    v, n, c = statistics.median(ver), statistics.median(noop), statistics.median(check)
    out += ["## 1. `ppm lock` on an unchanged manifest", "",
            "| command | median of 11 | ratio to `ppm --version` |", "| --- | --- | --- |",
            f"| `ppm --version` | {v * 1000:.1f} ms | 1.00 |",
            f"| `ppm lock` (no-op) | {n * 1000:.1f} ms | {n / v:.2f} |",
            f"| `ppm lock --check` (fresh) | {c * 1000:.1f} ms | {c / v:.2f} |", "",
            f"Target: at most 1.5x. **{n / v:.2f}x**.", ""]
    print("\n".join(out[-10:]))


def tool(venv: Path | None, name: str) -> str | None:
    if venv is not None and (venv / "bin" / name).exists():
        return str(venv / "bin" / name)
    return shutil.which(name)


def bench_pypi(tmp: Path, venv: Path | None, out: list[str]) -> None:
    d = tmp / "pypi"
    d.mkdir()
    (d / "requirements.in").write_text("\n".join(PYPI_SET) + "\n")
    deps = "".join(f'"{r.split(">")[0].split("=")[0]}" = "{r[len(r.split(">")[0].split("=")[0]):]}"\n' for r in PYPI_SET)
    (d / "ppm.toml").write_text(f'[project]\nname = "bench"\ntargets = ["linux-x86_64"]\n\n[dependencies.pypi]\n{deps}')
    env = ppm_env(tmp / "pypi-ppm-cache")
    timed(PPM + ["lock"], d, env)  # warm the cache
    from ppm.lockfile import model

    n = len(model.read(d / "ppm.lock").by_ecosystem("pypi"))
    rows = []
    ppm_t = statistics.median(timed(PPM + ["lock", "--upgrade"], d, env) for _ in range(3))
    rows.append(("`ppm lock --upgrade`", ppm_t))
    pc = tool(venv, "pip-compile")
    uv = tool(venv, "uv")
    res: dict[str, float] = {}
    if pc:
        penv = {**os.environ, "PIP_CACHE_DIR": str(tmp / "pip-cache"), "PIP_CONFIG_FILE": os.devnull}
        cmd = [pc, "--quiet", "--upgrade", "--no-header", "--no-strip-extras", "--cache-dir", str(tmp / "pip-tools-cache"),
               "-o", str(d / "pc.txt"), str(d / "requirements.in")]
        timed(cmd, d, penv)
        res["pip-compile"] = statistics.median(timed(cmd, d, penv) for _ in range(3))
        rows.append(("`pip-compile --upgrade`", res["pip-compile"]))
    if uv:
        uenv = {**os.environ, "UV_CACHE_DIR": str(tmp / "uv-cache"), "UV_NO_CONFIG": "1"}
        cmd = [uv, "pip", "compile", "--quiet", "--upgrade", "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
               "-o", str(d / "uv.txt"), str(d / "requirements.in")]
        timed(cmd, d, uenv)
        res["uv"] = statistics.median(timed(cmd, d, uenv) for _ in range(3))
        rows.append(("`uv pip compile --upgrade`", res["uv"]))
    out += [f"## 2. Warm-cache full re-resolve, {len(PYPI_SET)} requirements, {n} packages (real PyPI)", "",
            "| command | median of 3 | ppm / it |", "| --- | --- | --- |"]
    out += [f"| {name} | {t:.2f} s | {ppm_t / t:.2f} |" for name, t in rows]
    out.append("")
    if "pip-compile" in res:
        out.append(f"Faster than pip-compile: {'yes' if ppm_t < res['pip-compile'] else '**no**'} ({res['pip-compile'] / ppm_t:.1f}x).")
    if "uv" in res:
        out.append(f"Within 5x of uv: {'yes' if ppm_t <= 5 * res['uv'] else '**no**'} ({ppm_t / res['uv']:.1f}x).")
    out.append("")
    print("\n".join(out[-12:]))


def bench_five(tmp: Path, venv: Path | None, out: list[str]) -> None:
    d = tmp / "five"
    for c in ("core/src", "ui", "app", "greeter"):
        (d / c).mkdir(parents=True)
    (d / "core/Cargo.toml").write_text('[package]\nname = "core-rs"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    (d / "core/src/lib.rs").write_text("")
    man = ['[project]\nname = "bench"\ntargets = ["linux-x86_64"]\n',
           '[components.core]\nbuilder = "cargo"\npath = "core"\n', '[components.ui]\nbuilder = "esbuild"\npath = "ui"\n',
           '[components.app]\nbuilder = "pyinstaller"\npath = "app"\n',
           '[components.greeter]\nbuilder = "graalvm"\npath = "greeter"\nmain = "Greeter"\noptional = true\n']
    comp = {"pypi": "app", "npm": "ui", "cargo": "core", "maven": "greeter"}
    for eco, deps in FIVE.items():
        table = f"[components.{comp[eco]}.dependencies.{eco}]" if eco in comp else f"[dependencies.{eco}]"
        man.append(table + "\n" + "".join(f'"{k}" = {v if v.startswith("{") else chr(34) + v + chr(34)}\n' for k, v in deps.items()))
    (d / "ppm.toml").write_text("\n".join(man))
    ppm_t = timed(PPM + ["lock"], d, ppm_env(tmp / "five-ppm-cache"))
    from ppm.lockfile import model

    lk = model.read(d / "ppm.lock")
    counts = {e: len(lk.by_ecosystem(e)) for e in FIVE}
    native: dict[str, float] = {}
    n = tmp / "native"
    # PyPI: uv pip compile, empty cache
    uv = tool(venv, "uv")
    if uv:
        (n / "pypi").mkdir(parents=True)
        (n / "pypi/requirements.in").write_text("".join(f"{k}{v}\n" for k, v in FIVE["pypi"].items()))
        native["pypi: uv pip compile"] = timed([uv, "pip", "compile", "--quiet", "--python-version", "3.11", "-o", "out.txt", "requirements.in"],
                                               n / "pypi", {**os.environ, "UV_CACHE_DIR": str(tmp / "uv-cold"), "UV_NO_CONFIG": "1"})
    if shutil.which("npm"):
        import json

        (n / "npm").mkdir(parents=True)
        (n / "npm/package.json").write_text(json.dumps({"name": "b", "version": "0.0.0", "dependencies": FIVE["npm"]}))
        native["npm: npm install --package-lock-only"] = timed(
            ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], n / "npm",
            {**os.environ, "npm_config_cache": str(tmp / "npm-cold")})
    if shutil.which("cargo"):
        (n / "cargo/src").mkdir(parents=True)
        (n / "cargo/src/lib.rs").write_text("")
        (n / "cargo/Cargo.toml").write_text('[package]\nname = "b"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n' +
                                             "".join(f"{k} = {v if v.startswith('{') else chr(34) + v + chr(34)}\n" for k, v in FIVE["cargo"].items()))
        native["cargo: cargo generate-lockfile"] = timed(["cargo", "generate-lockfile"], n / "cargo",
                                                         {**os.environ, "CARGO_HOME": str(tmp / "cargo-cold")})
    if shutil.which("go"):
        (n / "go").mkdir(parents=True)
        (n / "go/go.mod").write_text("module b\n\ngo 1.21\n\nrequire (\n" + "".join(f"\t{k} {v}\n" for k, v in FIVE["go"].items()) + ")\n")
        native["go: go list -m all"] = timed(["go", "list", "-m", "all"], n / "go",
                                             {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
                                              "GOMODCACHE": str(tmp / "go-cold"), "GOPATH": str(tmp / "gopath")})
    if shutil.which("mvn"):
        (n / "mvn").mkdir(parents=True)
        deps = "".join(f"<dependency><groupId>{k.split(':')[0]}</groupId><artifactId>{k.split(':')[1]}</artifactId><version>{v}</version></dependency>"
                       for k, v in FIVE["maven"].items())
        (n / "mvn/pom.xml").write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                                       f"<groupId>b</groupId><artifactId>b</artifactId><version>0</version><dependencies>{deps}</dependencies></project>")
        # Warm for the plugin alone (not ppm's to fetch), cold for the project's artifacts:
        repo = tmp / "m2-cold"
        timed(["mvn", "-B", "-q", f"-Dmaven.repo.local={repo}", "dependency:help"], n / "mvn")
        for sub in ("com/google", "org/slf4j", "com/fasterxml"):
            shutil.rmtree(repo / sub, ignore_errors=True)
        native["maven: mvn dependency:list"] = timed(["mvn", "-B", "-q", f"-Dmaven.repo.local={repo}", "dependency:list"], n / "mvn")
    total = sum(native.values())
    out += ["## 3. Cold lock of five ecosystems (real registries, empty caches)", "",
            "Packages locked: " + ", ".join(f"{e} {c}" for e, c in counts.items()) + ".", "",
            "| command | time |", "| --- | --- |", f"| `ppm lock` (all five) | {ppm_t:.2f} s |"]
    out += [f"| {k} | {v:.2f} s |" for k, v in native.items()]
    out += [f"| sum of the native resolvers | {total:.2f} s |", "",
            f"Faster than the sum: {'yes' if ppm_t < total else '**no**'} ({total / ppm_t:.1f}x). "
            "Maven's own plugins were fetched before timing (its cache was otherwise empty).", ""]
    print("\n".join(out[-14:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--local-only", action="store_true", help="only the no-op benchmark (no network)")
    ap.add_argument("--venv", type=Path, default=Path(os.environ.get("BENCH_VENV", "/tmp/benchvenv")))
    a = ap.parse_args()
    out = ["# ppm lock benchmarks", "", f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. "
           f"Command: `python tests/benchmarks/bench_lock.py{' --local-only' if a.local_only else ''}`.", ""]
    venv = a.venv if a.venv.exists() else None
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        bench_noop(tmp, out)
        if not a.local_only:
            bench_pypi(tmp, venv, out)
            bench_five(tmp, venv, out)
    out += ["## Notes", "",
            "- Warm means each tool's own cache was filled by one run first; every tool still revalidates the index pages "
            "(ppm with ETag/If-None-Match). ppm keeps core metadata by the file's sha256, so a warm run reads no wheel.",
            "- The PyPI this machine reaches serves PEP 691 JSON without PEP 658 `core-metadata`: a cold ppm resolve "
            "downloads each chosen wheel once to read METADATA (as pip does); uv reads wheels with range requests.",
            "- `ppm lock` resolves the ecosystems concurrently (one shared HTTP client); each native tool resolves one.",
            "- Maven's `dependency:list` needs its plugin, fetched before timing, so its figure is the artifacts' cold cost.", ""]
    res = HERE / "results" / "lock.md"
    res.parent.mkdir(exist_ok=True)
    res.write_text("\n".join(out) + "\n")
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
