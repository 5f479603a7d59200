"""Cross-build benchmarks: the desktop template (Go host, Rust and C static libraries, a
TypeScript UI) for linux-x86_64, linux-aarch64 and windows-x86_64, against the same commands
run by hand in a shell script, measured in the same run.

  python tests/benchmarks/bench_cross.py

1. Cold: `ppm build` of the three targets (fresh ppm cache, fresh project state) vs a shell
   script running the same tools the same way (cargo with -Zbuild-std for the foreign targets,
   zig cc, esbuild, go build with zig as cgo's compiler), sequentially, with fresh caches.
2. Warm, after editing one Go file: `ppm build` of the three targets vs the script's three
   `go build` commands alone (warm Go and zig caches), and `ppm build` of the host target vs
   one `go build`.

Needs the toolchains the desktop tests need (.ci/needs-cross.sh, `ppm toolchain list
--provision`). Results go to tests/benchmarks/results/cross.md.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGETS = ["linux-x86_64", "linux-aarch64", "windows-x86_64"]


def _script(root: Path, tools: dict[str, list[str]], state: Path, only_go: bool = False) -> str:
    """The build by hand: what a careful person would type, one target after another."""
    from ppm import targets

    zig, esbuild, go = (shlex.join(tools[n]) for n in ("zig", "esbuild", "go"))
    host = targets.host()
    lines = ["set -eu", f"cd {shlex.quote(str(root))}", f"S={shlex.quote(str(state))}",
             "export GOFLAGS=-mod=readonly GOPROXY=off GOTOOLCHAIN=local GOCACHE=$S/gocache GOPATH=$S/gopath",
             "export ZIG_GLOBAL_CACHE_DIR=$S/zig ZIG_LOCAL_CACHE_DIR=$S/zig"]
    if not only_go:
        lines.append(f"mkdir -p $S/ui && {esbuild} ui/src/main.tsx --bundle --platform=browser --target=es2020 "
                     "--outfile=$S/ui/ui.js --minify --charset=utf8 --legal-comments=none && cp ui/public/index.html $S/ui/")
    for name in TARGETS:
        t = targets.TARGETS[name]
        out = f"$S/{name}"
        if not only_go:
            lines.append(f"mkdir -p {out}/mod/ppm_deps/core {out}/mod/ppm_deps/cmath {out}/mod/ppm_deps/ui")
            if t == host:
                lines.append(f"cargo build -q --release --locked --offline --target {t.rust_triple} "
                             f"--manifest-path core/Cargo.toml --target-dir {out}/cargo")
                cc = "cc"
            else:
                var = "CARGO_TARGET_" + t.rust_triple.upper().replace("-", "_") + "_LINKER"
                if t.os == "windows":
                    linker = "x86_64-w64-mingw32-gcc"
                else:
                    linker = f"{out}/zigcc"
                    lines.append(f"printf '#!/bin/sh\\nexec {zig} cc -target {t.zig_triple} \"$@\"\\n' > {linker} && chmod +x {linker}")
                lines.append(f"RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 {var}={linker} /usr/bin/cargo build -q --release --locked "
                             f"--offline -Zbuild-std=std,panic_abort --target {t.rust_triple} "
                             f"--manifest-path core/Cargo.toml --target-dir {out}/cargo")
                cc = f"{zig} cc -target {t.zig_triple}"
            lines.append(f"cp {out}/cargo/{t.rust_triple}/release/libcore_rs.a {out}/mod/ppm_deps/core/")
            lines.append(f"{cc} -c -fPIC -O2 -Icmath/include cmath/src/gcd.c -o {out}/gcd.o && "
                         f"{cc} -c -fPIC -O2 -Icmath/include cmath/src/primes.c -o {out}/primes.o")
            ar = "ar" if t == host else f"{zig} ar"
            lines.append(f"{ar} rcs {out}/mod/ppm_deps/cmath/libcmath.a {out}/gcd.o {out}/primes.o")
            lines.append(f"cp $S/ui/* {out}/mod/ppm_deps/ui/")
        lines.append(f"cp app/go.mod app/main.go {out}/mod/")
        lines.append(f"(cd {out}/mod && GOOS={t.goos} GOARCH={t.goarch} CGO_ENABLED=1 CC='{zig} cc -target {t.zig_triple}' "
                     f"{go} build -trimpath -buildvcs=false -ldflags='-s -w' -o {out}/{t.executable('dt')} .)")
    return "\n".join(lines) + "\n"


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed:\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t


def main() -> None:
    from ppm import toolchains
    from ppm.templates import create

    tcs = toolchains.resolve(["zig", "esbuild", "go", "cargo", "cargo-build-std", "mingw"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        raise SystemExit("missing toolchains: " + "; ".join(missing))
    tools = {n: tc.argv for n, tc in tcs.items()}
    work = Path(tempfile.mkdtemp(prefix="ppm-bench-cross-"))
    root = create(work / "dt", "desktop")
    from ppm.core.paths import toolchains_dir

    env = {**os.environ, "PPM_CACHE_DIR": str(work / "cache"), "PPM_TOOLCHAINS_DIR": str(toolchains_dir()), "PPM_OFFLINE": "1"}
    # The template's React comes from npm: locked from the test fixtures, served on 127.0.0.1, and
    # installed into ui/node_modules (where the script's esbuild finds it too) before either build.
    sys.path.insert(0, str(REPO / "tests"))
    from registry_server import RegistryServer

    with RegistryServer() as srv:
        npm = {**env, **srv.env(), "PPM_OFFLINE": "0"}
        _timed([sys.executable, "-m", "ppm", "lock"], root, npm)
        _timed([sys.executable, "-m", "ppm", "sync"], root, npm)
        env.update(srv.env())  # the lock was made against these URLs (nothing is fetched from now on)
    ppm = [sys.executable, "-m", "ppm", "build", *[w for t in ("host", *TARGETS[1:]) for w in ("--target", t)]]

    by_hand = work / "by-hand.sh"
    by_hand.write_text(_script(root, tools, work / "hand"))
    go_only = work / "go-only.sh"
    go_only.write_text(_script(root, tools, work / "hand", only_go=True))
    host_go = work / "host-go.sh"
    host_go.write_text("\n".join(_script(root, tools, work / "hand", only_go=True).splitlines()[:7]) + "\n")

    rows = []
    cold_ppm = _timed(ppm, root, env)
    cold_sh = _timed(["bash", str(by_hand)], root, env)
    rows.append(("cold build, 3 targets", cold_ppm, "shell script (same tools, sequential)", cold_sh))

    main_go = root / "app/main.go"
    main_go.write_text(main_go.read_text().replace("four languages", "four languages!"))
    warm_ppm = _timed(ppm, root, env)
    warm_sh = _timed(["bash", str(go_only)], root, env)
    rows.append(("warm rebuild after one Go edit, 3 targets", warm_ppm, "3 x go build", warm_sh))
    main_go.write_text(main_go.read_text().replace("four languages!", "four languages?"))
    warm_host = _timed([*ppm[:4], "--target", "host"], root, env)
    main_go.write_text(main_go.read_text().replace("four languages?", "four languages."))
    warm_go = _timed(["bash", str(host_go)], root, env)
    rows.append(("warm rebuild after one Go edit, host", warm_host, "go build", warm_go))

    out = ["# Cross-build benchmarks", "",
           f"`python tests/benchmarks/bench_cross.py` on {os.cpu_count()} cores (shared), {time.strftime('%Y-%m-%d')}.", "",
           "| what | ppm | peer | peer time | ratio |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {w} | {a:.1f} s | {pn} | {b:.1f} s | {a / b:.2f}x |" for w, a, pn, b in rows]
    text = "\n".join(out) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cross.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
