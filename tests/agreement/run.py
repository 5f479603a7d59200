"""The differential corpus: lock every set in tests/agreement/sets/<ecosystem>.toml with ppm and
with the ecosystem's native resolver, compare the complete package sets and versions, and report
agreement per ecosystem with both sides' times (needs the network and the native tools).

    python tests/agreement/run.py                      # every ecosystem, one after the other
    python tests/agreement/run.py cargo go --only gin  # some ecosystems, some sets
    python tests/agreement/run.py cargo --build        # also: ppm sync, then the native build offline
    python tests/agreement/run.py pypi-2t              # linux + windows lock vs uv once per platform

Native resolvers: `uv pip compile` (the same answers as pip), `npm install --package-lock-only`,
`cargo generate-lockfile`, `go list -m all`, `mvn dependency:list` (all sets in one reactor
build, so one JVM start is shared, as ppm shares one process). Results land in
tests/agreement/results/<ecosystem>.json and tests/agreement/results/summary.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SETS = HERE / "sets"
RESULTS = HERE / "results"
ECOSYSTEMS = ("pypi", "npm", "cargo", "go", "maven")
# Where ppm and the native resolver may differ on purpose: (ecosystem, set, package) -> reason.
DELIBERATE: dict[tuple[str, str, str], str] = {}

Versions = dict[str, set[str]]
# cargo sets compiled in full by --build (the others: the whole locked graph read offline)
FULL_CARGO_BUILDS = {"axum-web-stack", "clap-cli", "serde-formats"}
FULL_GO_BUILDS = {"gin-cobra-aws", "chi", "logging", "jwt-uuid"}


@dataclass
class Outcome:
    ecosystem: str
    name: str
    ppm_seconds: float = 0.0
    native_seconds: float = 0.0
    ppm_count: int = 0
    native_count: int = 0
    differences: list[str] = field(default_factory=list)
    error: str = ""
    build: str = ""  # "", "ok" or the failure

    @property
    def agrees(self) -> bool:
        return not self.error and not self.differences


def load_sets(ecosystem: str) -> dict[str, dict[str, Any]]:
    return tomllib.loads((SETS / f"{ecosystem}.toml").read_text())


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    p = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} exited {p.returncode}: {(p.stderr or p.stdout)[-1500:]}")
    return p.stdout


# -- ppm's side ------------------------------------------------------------------------------


def ppm_lock(ecosystem: str, deps: dict[str, Any], targets: list[str]) -> Versions:
    from ppm.lockfile.registries.http import HttpClient
    from ppm.lockfile.request import parse_spec
    from ppm.lockfile.resolve import resolve_roots

    roots = [parse_spec(ecosystem, n, s) for n, s in deps.items()]
    with HttpClient() as http:
        pkgs = resolve_roots(roots, targets, http=http)
    out: Versions = {}
    for p in pkgs:
        out.setdefault(_canon(ecosystem, p.name), set()).add(p.version)
    return out


def ppm_lock_per_target(deps: dict[str, Any], targets: list[str]) -> dict[str, Versions]:
    """One multi-target PyPI lock, split by the targets ppm.lock records for each package."""
    from ppm.lockfile.registries.http import HttpClient
    from ppm.lockfile.request import parse_spec
    from ppm.lockfile.resolve import resolve_roots

    roots = [parse_spec("pypi", n, s) for n, s in deps.items()]
    with HttpClient() as http:
        pkgs = resolve_roots(roots, targets, http=http)
    out: dict[str, Versions] = {t: {} for t in targets}
    for p in pkgs:
        for t in p.targets or targets:
            out[t].setdefault(_canon("pypi", p.name), set()).add(p.version)
    return out


# uv's --python-platform for each ppm target
UV_PLATFORM = {"linux-x86_64": "x86_64-manylinux_2_40", "windows-x86_64": "x86_64-pc-windows-msvc"}


def run_pypi_two_targets(work: Path, only: list[str]) -> list[Outcome]:
    """A linux + windows PyPI lock against `uv pip compile --python-platform`, once per platform."""
    outcomes = []
    for name, deps in load_sets("pypi").items():
        if only and name not in only:
            continue
        o = Outcome("pypi-2t", name)
        try:
            t = time.perf_counter()
            ours = ppm_lock_per_target(deps, list(UV_PLATFORM))
            o.ppm_seconds = time.perf_counter() - t
            for target, plat in UV_PLATFORM.items():
                d = work / "native-2t" / f"{name}--{target}"
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True)
                t = time.perf_counter()
                theirs = native_pypi(d, deps, plat)
                o.native_seconds += time.perf_counter() - t
                o.ppm_count += sum(map(len, ours[target].values()))
                o.native_count += sum(map(len, theirs.values()))
                o.differences += [f"[{target}] {x}" for x in compare("pypi", name, ours[target], theirs)]
        except Exception as e:
            o.error = str(e)[-1500:]
        print(f"pypi-2t {'=' if o.agrees else '≠'} {name:28} ppm {o.ppm_count:4} in {o.ppm_seconds:6.2f}s  native "
              f"{o.native_count:4} in {o.native_seconds:6.2f}s" + (f"\n         {o.error[:300]}" if o.error else "")
              + "".join(f"\n         {d}" for d in o.differences[:12]), flush=True)
        outcomes.append(o)
    return outcomes


def _canon(ecosystem: str, name: str) -> str:
    if ecosystem == "pypi":
        from packaging.utils import canonicalize_name

        return str(canonicalize_name(name))
    return name


def _spec(s: Any) -> dict[str, Any]:
    return {"version": s} if isinstance(s, str) else dict(s)


# -- the native side ------------------------------------------------------------------------


def native_pypi(work: Path, deps: dict[str, Any], platform: str = "x86_64-manylinux_2_40") -> Versions:
    lines = []
    for n, s in deps.items():
        sp = _spec(s)
        extras = sp.get("extras") or []
        lines.append(n + (f"[{','.join(extras)}]" if extras else "") + sp.get("version", ""))
    (work / "requirements.in").write_text("\n".join(lines) + "\n")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    out = run([uv, "pip", "compile", "requirements.in", "--python-version", "3.11", "--python-platform", platform,
               "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet",
               "--cache-dir", str(work.parent / "uv-cache")], work)
    got: Versions = {}
    for line in out.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            n, v = line.split("==", 1)
            got.setdefault(_canon("pypi", n.split("[")[0]), set()).add(v.split(";")[0].strip())
    return got


def native_npm(work: Path, deps: dict[str, Any]) -> Versions:
    pj = {"name": "agreement", "version": "0.0.0", "dependencies": {n: _spec(s)["version"] for n, s in deps.items()}}
    (work / "package.json").write_text(json.dumps(pj, indent=1))
    run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], work,
        {"npm_config_cache": str(work.parent / "npm-cache"), "npm_config_registry": "https://registry.npmjs.org/"})
    got: Versions = {}
    for path, e in json.loads((work / "package-lock.json").read_text())["packages"].items():
        if path and not e.get("link"):
            got.setdefault(path.rsplit("node_modules/", 1)[1], set()).add(e["version"])
    return got


def cargo_toml(deps: dict[str, Any]) -> str:
    out = '[package]\nname = "agreement"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\npath = "src/lib.rs"\n\n[dependencies]\n'
    for n, s in deps.items():
        sp = _spec(s)
        parts = [f'version = "{sp["version"]}"']
        if sp.get("features"):
            parts.append("features = [" + ", ".join(f'"{f}"' for f in sp["features"]) + "]")
        if sp.get("default-features") is False:
            parts.append("default-features = false")
        out += f"{n} = {{ {', '.join(parts)} }}\n"
    return out


def native_cargo(work: Path, deps: dict[str, Any]) -> Versions:
    (work / "src").mkdir(exist_ok=True)
    (work / "src/lib.rs").write_text("")
    (work / "Cargo.toml").write_text(cargo_toml(deps))
    run(["cargo", "generate-lockfile"], work, {"CARGO_HOME": str(work.parent / "cargo-home")})
    got: Versions = {}
    for p in tomllib.loads((work / "Cargo.lock").read_text())["package"]:
        if p.get("source"):
            got.setdefault(p["name"], set()).add(p["version"])
    return got


def go_env(work: Path) -> dict[str, str]:
    return {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOPATH": str(work.parent / "gopath"),
            "GOMODCACHE": str(work.parent / "gomod"), "GOPROXY": "https://proxy.golang.org"}


def native_go(work: Path, deps: dict[str, Any]) -> Versions:
    (work / "go.mod").write_text("module agreement\n\ngo 1.22\n\nrequire (\n" +
                                 "".join(f"\t{n} {_spec(s)['version']}\n" for n, s in deps.items()) + ")\n")
    out = run(["go", "list", "-m", "all"], work, go_env(work))
    got: Versions = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            got.setdefault(parts[0], set()).add(parts[1])
    return got


def maven_reactor(work: Path, sets: dict[str, dict[str, Any]]) -> dict[str, Versions | str]:
    """One `mvn dependency:list` over a reactor with a module per set."""
    mods = []
    for name, deps in sets.items():
        d = work / name
        d.mkdir(parents=True, exist_ok=True)
        x = "".join(f"<dependency><groupId>{n.split(':')[0]}</groupId><artifactId>{n.split(':')[1]}</artifactId>"
                    f"<version>{_spec(s)['version']}</version></dependency>" for n, s in deps.items())
        (d / "pom.xml").write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                                   f"<groupId>agreement</groupId><artifactId>{name}</artifactId><version>0</version>"
                                   f"<dependencies>{x}</dependencies></project>")
        mods.append(f"<module>{name}</module>")
    (work / "pom.xml").write_text('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                                  "<groupId>agreement</groupId><artifactId>corpus</artifactId><version>0</version>"
                                  f"<packaging>pom</packaging><modules>{''.join(mods)}</modules></project>")
    p = subprocess.run(["mvn", "-B", "-q", "--fail-at-end", "dependency:list", "-DoutputFile=deps.txt",
                        "-DincludeScope=runtime", "-Dmaven.repo.local=" + str(work.parent / "m2")],
                       cwd=work, capture_output=True, text=True, timeout=3600)
    out: dict[str, Versions | str] = {}
    for name in sets:
        f = work / name / "deps.txt"
        if not f.is_file():
            out[name] = f"mvn dependency:list failed: {(p.stdout + p.stderr)[-800:]}"
            continue
        got: Versions = {}
        for line in f.read_text().splitlines():
            parts = line.split(" -- ")[0].strip().split(":")  # g:a:type[:classifier]:version:scope
            if len(parts) >= 5:
                got.setdefault(f"{parts[0]}:{parts[1]}", set()).add(parts[-2])
        got = {k: v for k, v in got.items() if not k.startswith("agreement:")}
        out[name] = got
    return out


NATIVE: dict[str, Callable[[Path, dict[str, Any]], Versions]] = {
    "pypi": native_pypi, "npm": native_npm, "cargo": native_cargo, "go": native_go}


# -- builds ---------------------------------------------------------------------------------


def build(ecosystem: str, work: Path, name: str, deps: dict[str, Any]) -> str:
    """`ppm lock` + `ppm sync` in a fresh project, then the native tool, locked and offline."""
    proj = work / "build" / name
    shutil.rmtree(proj, ignore_errors=True)
    proj.mkdir(parents=True)
    table = "\n".join(f"{json.dumps(n)} = {_toml_inline(s)}" for n, s in deps.items())
    comp = {"cargo": "core", "npm": "ui"}.get(ecosystem)
    if comp:
        builder = {"cargo": "cargo", "npm": "esbuild"}[ecosystem]
        head = f'[project]\nname = "b"\ntargets = ["linux-x86_64"]\n\n[components.{comp}]\nbuilder = "{builder}"\n\n'
        (proj / "ppm.toml").write_text(head + f"[components.{comp}.dependencies.{ecosystem}]\n{table}\n")
        (proj / comp / "src").mkdir(parents=True)
        if ecosystem == "cargo":
            (proj / comp / "Cargo.toml").write_text('[package]\nname = "core"\nversion = "0.1.0"\nedition = "2021"\n\n'
                                                    '[lib]\npath = "src/lib.rs"\n')
            (proj / comp / "src/lib.rs").write_text("")
        else:
            (proj / comp / "package.json").write_text('{"name": "ui", "version": "0.0.0"}\n')
            (proj / comp / "src/index.js").write_text("")
    else:
        head = '[project]\nname = "b"\ntargets = ["linux-x86_64"]\n\n'
        (proj / "ppm.toml").write_text(head + f"[dependencies.{ecosystem}]\n{table}\n")
    ppm = [sys.executable, "-m", "ppm"]
    try:
        run([*ppm, "lock"], proj)
        run([*ppm, "sync"], proj)
        if ecosystem == "cargo":
            from ppm.lockfile import sync

            # cargo_args carries --offline and the vendored directory source; a fresh CARGO_HOME
            # proves nothing comes from the network. `metadata` resolves the whole locked graph
            # (every platform) from the vendored sources; `build` compiles (slow: chosen sets only).
            args = [a.replace("{project}", str(proj)) for a in sync.cargo_args(proj, "core")]
            env = {"CARGO_HOME": str(work / "cargo-home-offline"), "CARGO_TARGET_DIR": str(work / "cargo-target")}
            run(["cargo", "metadata", "--locked", "--format-version", "1", *args], proj / "core", env)
            if name in FULL_CARGO_BUILDS:
                run(["cargo", "build", "--locked", *args], proj / "core", env)
                return "ok (cargo build)"
        elif ecosystem == "npm":
            shutil.rmtree(proj / "ui/node_modules", ignore_errors=True)
            # npm's locked mode: installs exactly package-lock.json, checking each integrity (npm
            # keeps its own cache, so it downloads the tarballs ppm verified into .ppm again)
            run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], proj / "ui",
                {"npm_config_cache": str(work / "npm-cache")})
        elif ecosystem == "go":
            g = proj / ".ppm/sync/project/go"
            imports = "".join(f'\t_ "{_go_package(n)}"\n' for n in deps)
            (g / "main.go").write_text(f"package main\n\nimport (\n{imports})\n\nfunc main() {{}}\n")
            env = {"GOPROXY": f"file://{proj / '.ppm/vendor/go'}", "GOFLAGS": "-mod=mod", "GOSUMDB": "off",
                   "GOTOOLCHAIN": "local", "GOPATH": str(work / "gopath-offline"), "GOMODCACHE": str(work / "gomod-offline"),
                   "CGO_ENABLED": "1"}
            # every package the imports need, loaded from the vendored proxy alone (offline); the
            # chosen sets are compiled too (slow on 2 cores: k8s, cloud SDKs)
            run(["go", "list", "-deps", "."], g, env)
            if name in FULL_GO_BUILDS:
                run(["go", "build", "-o", os.devnull, "."], g, env)
                return "ok (go build)"
            return "ok (go list -deps)"
        return "ok (cargo metadata)" if ecosystem == "cargo" else "ok"
    except Exception as e:  # the report names it; the corpus goes on
        return str(e)[-1200:]


# modules whose root directory holds no package: what a user of each imports instead
_GO_IMPORT = {"k8s.io/client-go": "k8s.io/client-go/kubernetes", "github.com/docker/docker": "github.com/docker/docker/client",
              "golang.org/x/crypto": "golang.org/x/crypto/bcrypt", "gonum.org/v1/gonum": "gonum.org/v1/gonum/mat",
              "go.opentelemetry.io/otel/sdk": "go.opentelemetry.io/otel/sdk/trace",
              "google.golang.org/protobuf": "google.golang.org/protobuf/proto",
              "github.com/prometheus/client_golang": "github.com/prometheus/client_golang/prometheus",
              "github.com/stretchr/testify": "github.com/stretchr/testify/assert"}


def _go_package(module: str) -> str:
    """A package to import from a module: its root, where it has one."""
    return _GO_IMPORT.get(module, module)


def _toml_inline(s: Any) -> str:
    if isinstance(s, str):
        return json.dumps(s)
    return "{ " + ", ".join(f"{k} = {json.dumps(v).lower() if isinstance(v, bool) else json.dumps(v)}"
                            for k, v in s.items()) + " }"


# -- the run ---------------------------------------------------------------------------------


def compare(eco: str, name: str, ours: Versions, theirs: Versions) -> list[str]:
    diffs = []
    for pkg in sorted(set(ours) | set(theirs)):
        a, b = ours.get(pkg, set()), theirs.get(pkg, set())
        if a != b:
            why = DELIBERATE.get((eco, name, pkg), "")
            diffs.append(f"{pkg}: ppm {sorted(a) or '-'} vs native {sorted(b) or '-'}" + (f" (deliberate: {why})" if why else ""))
    return diffs


def run_ecosystem(eco: str, work: Path, only: list[str], do_build: bool) -> list[Outcome]:
    sets = {k: v for k, v in load_sets(eco).items() if not only or k in only}
    outcomes = []
    native_maven: dict[str, Versions | str] = {}
    maven_seconds = 0.0
    if eco == "maven":
        t = time.perf_counter()
        native_maven = maven_reactor(work / "native", sets)
        maven_seconds = time.perf_counter() - t
    for name, deps in sets.items():
        o = Outcome(eco, name)
        try:
            t = time.perf_counter()
            ours = ppm_lock(eco, deps, ["linux-x86_64"])
            o.ppm_seconds = time.perf_counter() - t
            if eco == "maven":
                theirs = native_maven[name]
                if isinstance(theirs, str):
                    raise RuntimeError(theirs)
                o.native_seconds = maven_seconds / len(sets)  # one reactor run for every set
            else:
                d = work / "native" / name
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True)
                t = time.perf_counter()
                theirs = NATIVE[eco](d, deps)
                o.native_seconds = time.perf_counter() - t
            o.ppm_count, o.native_count = sum(map(len, ours.values())), sum(map(len, theirs.values()))
            o.differences = compare(eco, name, ours, theirs)
        except Exception as e:
            o.error = str(e)[-1500:]
        if do_build and eco in ("cargo", "go", "npm") and not o.error:
            o.build = build(eco, work, name, deps)
        mark = "=" if o.agrees else "≠"
        print(f"{eco:6} {mark} {name:28} ppm {o.ppm_count:4} in {o.ppm_seconds:6.2f}s  native {o.native_count:4} in "
              f"{o.native_seconds:6.2f}s" + (f"  build: {o.build[:60]}" if o.build else "") +
              (f"\n         {o.error[:300]}" if o.error else "") + "".join(f"\n         {d}" for d in o.differences[:12]),
              flush=True)
        outcomes.append(o)
    return outcomes


def summary(results: dict[str, list[Outcome]]) -> str:
    lines = ["| ecosystem | sets | agree | packages (ppm / native) | ppm s | native s | ratio | builds ok |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for eco, outs in results.items():
        ppm_t, nat_t = sum(o.ppm_seconds for o in outs), sum(o.native_seconds for o in outs)
        builds = [o for o in outs if o.build]
        agree = sum(o.agrees for o in outs)
        lines.append(f"| {eco} | {len(outs)} | {agree} ({100 * agree / max(1, len(outs)):.0f}%) "
                     f"| {sum(o.ppm_count for o in outs)} / {sum(o.native_count for o in outs)} | {ppm_t:.1f} | {nat_t:.1f} "
                     f"| {ppm_t / nat_t if nat_t else 0:.2f}x | "
                     + (f"{sum(o.build.startswith('ok') for o in builds)}/{len(builds)}" if builds else "-") + " |")
    lines.append("")
    for eco, outs in results.items():
        for o in outs:
            if not o.agrees:
                lines.append(f"- {eco} `{o.name}`: " + (o.error.splitlines()[0][:300] if o.error else "; ".join(o.differences)))
            if o.build and not o.build.startswith("ok"):
                lines.append(f"- {eco} `{o.name}` build: {o.build.splitlines()[-1][:300] if o.build.splitlines() else o.build}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ecosystems", nargs="*", default=list(ECOSYSTEMS), help="pypi npm cargo go maven, and pypi-2t")
    ap.add_argument("--only", action="append", default=[], help="a set name (repeatable)")
    ap.add_argument("--build", action="store_true", help="also ppm sync and the native build (cargo, go, npm)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (caches are kept there)")
    args = ap.parse_args(argv)
    work = args.work or Path(os.environ.get("TMPDIR", "/tmp")) / "ppm-agreement"
    os.environ.setdefault("PPM_CACHE_DIR", str(work / "ppm-cache"))
    for k in [k for k in os.environ if k.startswith("PPM_REGISTRY_")]:
        del os.environ[k]  # the real registries, as the native tools use
    results: dict[str, list[Outcome]] = {}
    for eco in args.ecosystems:
        (work / eco).mkdir(parents=True, exist_ok=True)
        if eco == "pypi-2t":
            results[eco] = run_pypi_two_targets(work / eco, args.only)
        else:
            results[eco] = run_ecosystem(eco, work / eco, args.only, args.build)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{eco}.json").write_text(json.dumps([asdict(o) for o in results[eco]], indent=1) + "\n")
    text = summary(results)
    if not args.only and set(ECOSYSTEMS) <= set(args.ecosystems):
        (RESULTS / "summary.md").write_text(f"`python tests/agreement/run.py {' '.join(argv or sys.argv[1:])}`\n\n" + text)
    print(text)
    return 0 if all(o.agrees for outs in results.values() for o in outs) else 1


if __name__ == "__main__":
    sys.exit(main())
