"""wasm32-wasi: Zig, C, Go and Rust components built for WebAssembly by the real toolchains, then run
under wasmtime (its Python API, from PyPI): a reactor module's export is called, and the C and
Go programs' `_start` prints what they computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_ppm

pytestmark = pytest.mark.slow  # zig builds wasi-libc and go its std for wasm: 1-2.5 min

wasmtime = pytest.importorskip("wasmtime", reason="wasmtime (PyPI) is not installed: it comes with the `test` extra")

PROJECT = """\
[project]
name = "wasi"
targets = ["wasm32-wasi"]

[components.zigz]
builder = "zig"

[components.cprog]
builder = "cc"
kind = "executable"
include = []

[components.goprog]
builder = "go"
"""


def _run_start(module: Path, tmp: Path) -> str:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    cfg = wasmtime.WasiConfig()
    out = tmp / f"{module.stem}.stdout"
    cfg.stdout_file = str(out)
    cfg.argv = [module.stem]
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(module)))
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:  # proc_exit: Go always exits through it
        assert e.code == 0, f"{module.name} exited {e.code}"
    return out.read_text()


def test_zig_c_and_go_run_under_wasmtime(tmp_path: Path, ppm_cache: Path) -> None:
    from ppm import toolchains

    tcs = toolchains.resolve(["zig", "go"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("; ".join(missing))
    root = tmp_path / "wasi"
    for d in ("zigz/src", "cprog/src", "goprog"):
        (root / d).mkdir(parents=True)
    (root / "ppm.toml").write_text(PROJECT)
    (root / "zigz/src/main.zig").write_text("export fn zigz_sum_squares(n: u32) u64 {\n"
                                            "    var t: u64 = 0;\n    var i: u64 = 1;\n"
                                            "    while (i <= n) : (i += 1) t += i * i;\n    return t;\n}\n")
    (root / "cprog/src/main.c").write_text('#include <stdio.h>\nint main(void) { printf("c: %d\\n", 6 * 7); return 0; }\n')
    (root / "goprog/go.mod").write_text("module example.com/goprog\n\ngo 1.22\n")
    (root / "goprog/main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\n'
                                         'func main() { fmt.Printf("go: %s/%s\\n", runtime.GOOS, runtime.GOARCH) }\n')
    s = json.loads(run_ppm("build", "--json", cwd=root).stdout)
    outs = {rel: Path(o["path"]) for a in s["actions"] for rel, o in a["outputs"].items()}
    assert {"zigz.wasm", "cprog.wasm", "goprog.wasm"} <= set(outs)
    for f in ("zigz.wasm", "cprog.wasm", "goprog.wasm"):
        assert outs[f].read_bytes()[:4] == b"\0asm"

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    zigz = linker.instantiate(store, wasmtime.Module.from_file(engine, str(outs["zigz.wasm"])))
    assert zigz.exports(store)["zigz_sum_squares"](store, 10) == 385

    assert _run_start(outs["cprog.wasm"], tmp_path) == "c: 42\n"
    assert _run_start(outs["goprog.wasm"], tmp_path) == "go: wasip1/wasm\n"


def test_rust_runs_under_wasmtime(tmp_path: Path, ppm_cache: Path) -> None:
    """Rust for wasm32-wasip1 with std built from Rust's sources and linked by wasm-ld against
    wasi-libc (rustup's std for the target is the other way; it is not installable here)."""
    from ppm import toolchains
    from ppm.templates import create

    tcs = toolchains.resolve(["cargo", "cargo-build-std", "wasm-ld"], provision=False)
    missing = [f"{n}: {tc.note}" for n, tc in tcs.items() if not tc.usable]
    if missing:
        pytest.skip("; ".join(missing))
    demo = create(tmp_path / "demo")
    root = tmp_path / "rw"
    (root / "core").mkdir(parents=True)
    for f in ("Cargo.toml", "Cargo.lock", "src/lib.rs"):
        (root / "core" / f).parent.mkdir(parents=True, exist_ok=True)
        (root / "core" / f).write_text((demo / "core" / f).read_text())
    (root / "ppm.toml").write_text('[project]\nname = "rw"\ntargets = ["wasm32-wasi"]\n\n[components.core]\nbuilder = "cargo"\n')
    s = json.loads(run_ppm("build", "--json", cwd=root, timeout=1800).stdout)
    (action,) = s["actions"]
    module = Path(action["outputs"]["core_rs.wasm"]["path"])
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    core = linker.instantiate(store, wasmtime.Module.from_file(engine, str(module)))
    assert core.exports(store)["core_fibonacci"](store, 20) == 6765
