"""Toolchains found on the machine (cargo, cc, javac, native-image): looked up, asked for their
version once, and remembered. Running `X --version` on every build would cost a process per
tool, so probe results are cached in probes.json, keyed by the stat of every file the answer
depends on."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppm import targets
from ppm.core.fsutil import sha256_file
from ppm.toolchains.base import Toolchain, identity

_PROBES_VERSION = 3  # 2: probes record the resolved binary (cargo's sysroot comes from it); 3: parts

# How to find the tools ppm does not provision, and what to tell a user who lacks one.
_INSTALL_HINTS = {
    "cargo": "install Rust with rustup (https://rustup.rs) or put cargo on PATH",
    "cc": "install a C compiler (e.g. `apt-get install gcc` or clang) or set CC",
    "javac": "install a JDK (e.g. `apt-get install default-jdk-headless`) or set JAVA_HOME",
    "native-image": "install GraalVM and set GRAALVM_HOME, or put native-image on PATH",
    "go": "install Go (https://go.dev/dl, or `apt-get install golang`) and put `go` on PATH, or set GOROOT",
    "cargo-build-std": ("install Rust's library sources with a rustc that can build them: Debian's "
                        "`apt-get install rustc-web cargo-web rust-web-src`, or set PPM_RUST_BUILD_STD to a directory "
                        "holding such cargo and rustc"),
    "mingw": "install mingw-w64 (`apt-get install gcc-mingw-w64-x86-64`) or put x86_64-w64-mingw32-gcc on PATH",
    "rust-std": ("`rustup target add TRIPLE` installs a target's std beside the compiler (without one, ppm builds std "
                 "from Rust's sources: the cargo-build-std toolchain)"),
    "wasm-ld": ("install LLVM's wasm-ld and wasi-libc (Debian: `apt-get install lld wasi-libc`), or set WASI_SYSROOT "
                "to a wasi-sdk sysroot"),
}


@dataclass
class _Probe:
    """What `X --version` said, and the files whose stat must not change for that to hold."""

    version: str
    lines: list[str]  # the version lines, part of the identity
    sha256: str  # of the tool's main binary
    witnesses: list[list[Any]] = field(default_factory=list)  # [path, size, mtime_ns], or [path, None, None] if absent
    path: str = ""  # the resolved binary the answer is about (rustup proxies resolve to a toolchain's rustc)
    parts: list[list[Any]] = field(default_factory=list)  # [label, "sha256:<hex>", size]: see Toolchain.parts


class ProbeCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = False
        try:
            data = json.loads(path.read_text())
            # Keys carry the probe format's version (see _probe): one file serves several ppm versions.
            self.entries: dict[str, dict[str, Any]] = data["probes"] if isinstance(data.get("probes"), dict) else {}
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def get(self, key: str) -> _Probe | None:
        e = self.entries.get(key)
        try:
            if e is None or any(_stat(w[0]) != w for w in e["witnesses"]):
                return None
            return _Probe(**e)
        except (TypeError, KeyError, IndexError):
            return None

    def put(self, key: str, probe: _Probe) -> None:
        self.entries[key] = probe.__dict__
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:  # merge with what other processes wrote meanwhile; last writer wins per key
            current = json.loads(self.path.read_text()).get("probes", {})
        except (OSError, ValueError, AttributeError):
            current = {}
        current.update(self.entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".probes-{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _PROBES_VERSION, "probes": current}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        self.changed = False


def _stat(path: str) -> list[Any]:
    try:
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, None, None]


def _run_version(argv: list[str]) -> list[str]:
    """The non-empty lines `argv` prints (stdout, then stderr: javac 8 writes there)."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise _ProbeFailed(f"`{' '.join(argv)}` failed: {e}") from None
    if r.returncode != 0:
        raise _ProbeFailed(f"`{' '.join(argv)}` exited {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}")
    lines = [ln.strip() for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip()]
    if not lines:
        raise _ProbeFailed(f"`{' '.join(argv)}` printed nothing")
    return lines


class _ProbeFailed(Exception):
    pass


def _version_of(line: str) -> str:
    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?)", line)
    if m:
        return m.group(1)
    last = line.split()[-1] if line.split() else line  # "x86_64-w64-mingw32-gcc (GCC) 12-win32" -> "12-win32"
    return last if last[:1].isdigit() else line


def _missing(name: str, why: str = "") -> Toolchain:
    note = f"{why}; {_INSTALL_HINTS[name]}" if why else f"not found: {_INSTALL_HINTS[name]}"
    return Toolchain(name, "", "", [], {}, "", False, note)


def _found(name: str, argv: list[str], where: str, probe: _Probe) -> Toolchain:
    parts = tuple((str(label), str(h), int(size)) for label, h, size in probe.parts)
    return Toolchain(name, probe.version, f"found {where}: {argv[0]} ({probe.lines[0]})", argv, {},
                     identity(name, *probe.lines, probe.sha256, *(f"{label}={h}" for label, h, _ in parts)), True,
                     parts=parts)


# ---------------------------------------------------------------------------------------------
# What identifies a found toolchain, for the lock: content digests under path-free labels.

_DPKG_INFO = "/var/lib/dpkg/info"


def _file_part(label: str, path: str) -> list[Any]:
    real = os.path.realpath(path)
    return [label, "sha256:" + sha256_file(real), os.path.getsize(real)]


def _tree_part(label: str, root: str) -> list[Any]:
    """One digest over a directory tree: every file's relative path and content digest (a
    symbolic link's target instead of its content), in sorted order. No mtimes, no owners."""
    root = os.path.realpath(root)
    h = hashlib.sha256()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d not in links]
        for f in sorted([*filenames, *links]):
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if os.path.islink(full):
                h.update(f"{rel}\0->{os.readlink(full)}\n".encode())
            elif os.path.isfile(full):
                total += os.path.getsize(full)
                h.update(f"{rel}\0{sha256_file(full)}\n".encode())
    return [label, "sha256:" + h.hexdigest(), total]


def _deb_parts(paths: Iterable[str]) -> tuple[list[list[Any]], list[list[Any]]]:
    """(parts, witnesses) for the Debian packages that own `paths`: one part per package,
    labelled `deb:NAME=VERSION`, whose digest is that of dpkg's list of the package's installed
    files and their MD5s (the package's content as shipped). Nothing where dpkg is not."""
    query = shutil.which("dpkg-query")
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    if query is None or not os.path.isdir(_DPKG_INFO) or not real:
        return [], []
    try:
        r = subprocess.run([query, "-S", *real], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        pkgs = sorted({o.strip() for line in r.stdout.splitlines() if ": /" in line and not line.startswith("diversion ")
                       for o in line.split(": /", 1)[0].split(",") if o.strip()})
        if not pkgs:
            return [], []
        r = subprocess.run([query, "-W", "-f", "${binary:Package}\t${Package}\t${Version}\n", *pkgs],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return [], []
    parts: list[list[Any]] = []
    witnesses: list[list[Any]] = []
    for line in sorted(set(r.stdout.splitlines())):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2]:
            continue
        md5 = next((m for m in (os.path.join(_DPKG_INFO, f"{n}.md5sums") for n in fields[:2]) if os.path.isfile(m)), None)
        if md5 is not None:
            parts.append([f"deb:{fields[1]}={fields[2]}", "sha256:" + sha256_file(md5), os.path.getsize(md5)])
            witnesses.append(_stat(md5))
    return parts, witnesses


def _with_parts(probe: _Probe, files: Iterable[tuple[str, str]] = (), trees: Iterable[tuple[str, str]] = (),
                owned: Iterable[str] = ()) -> _Probe:
    """`probe` with the parts that identify the tool: files and trees by content, and the Debian
    packages owning `owned` (their file lists become witnesses too: an upgrade reprobes)."""
    debs, witnesses = _deb_parts(owned)
    probe.parts = [*(_file_part(label, p) for label, p in files), *(_tree_part(label, t) for label, t in trees), *debs]
    every = [*probe.witnesses, *witnesses]
    probe.witnesses = [w for i, w in enumerate(every) if w not in every[:i]]
    return probe


def _probe(cache: ProbeCache, name: str, argv: list[str], measure: Callable[[], _Probe], extra: str = "") -> _Probe:
    """A cached probe of the tool `argv` (as found, not resolved: rustup proxies dispatch on
    argv[0]). The key holds the resolved path too, so retargeting a symlink reprobes."""
    key = "|".join([f"v{_PROBES_VERSION}", name, *argv, os.path.realpath(argv[0]), extra])
    probe = cache.get(key)
    if probe is None:
        probe = measure()
        cache.put(key, probe)
    return probe


def _simple_probe(name: str, argv: list[str], version_args: list[str], extra: Iterable[str] = ()) -> Callable[[], _Probe]:
    def measure() -> _Probe:
        real = os.path.realpath(argv[0])
        before = _stat(real)
        lines = _run_version([*argv, *version_args])
        return _Probe(_version_of(lines[0]), lines[:1], sha256_file(real), [before, *(_stat(p) for p in extra)])
    return measure


def _which(cmd: str, path: str | None = None) -> str | None:
    found = shutil.which(cmd, path=path)
    return os.path.abspath(found) if found else None


def _find_cargo(cache: ProbeCache) -> Toolchain:
    cargo = _which("cargo")
    where = "on PATH"
    if cargo is None:  # rustup's default location, for shells that never sourced ~/.cargo/env
        home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
        cargo, where = _which("cargo", os.path.join(home, "bin")), f"in {os.path.join(home, 'bin')}"
        if cargo is None:
            return _missing("cargo")
    rustc = _which("rustc", os.path.dirname(cargo)) or _which("rustc")
    if rustc is None:
        return _missing("cargo", f"found {cargo} but no rustc beside it or on PATH")

    def measure() -> _Probe:
        real_rustc = os.path.realpath(rustc)
        witnesses = [_stat(os.path.realpath(cargo)), _stat(real_rustc)]
        if os.path.basename(real_rustc).startswith("rustup"):
            # A rustup proxy: the real compiler depends on rustup's settings, so those are witnesses too.
            rustup_home = os.environ.get("RUSTUP_HOME") or os.path.expanduser("~/.rustup")
            real_rustc = _run_version([real_rustc, "which", "rustc"])[0]
            witnesses += [_stat(os.path.join(rustup_home, "settings.toml")), _stat(real_rustc)]
        witnesses = [w for i, w in enumerate(witnesses) if w not in witnesses[:i]]
        lines = _run_version([cargo, "--version"])[:1] + _run_version([rustc, "--version"])[:1]
        return _Probe(_version_of(lines[0]), lines, sha256_file(real_rustc), witnesses, real_rustc)

    # RUSTUP_TOOLCHAIN picks another toolchain without touching any file: key on it.
    extra = f"{rustc}|RUSTUP_TOOLCHAIN={os.environ.get('RUSTUP_TOOLCHAIN', '')}"
    try:
        probe = _probe(cache, "cargo", [cargo], measure, extra)
    except _ProbeFailed as e:
        return _missing("cargo", f"found {cargo} but {e}")
    tc = _found("cargo", [cargo], where, probe)
    if probe.path:  # <sysroot>/bin/rustc: targets whose std is installed have <sysroot>/lib/rustlib/<triple>/lib
        tc.info["sysroot"] = os.path.dirname(os.path.dirname(probe.path))
    return tc


def _find_cc(cache: ProbeCache) -> Toolchain:
    cc_env = os.environ.get("CC", "").strip()
    if cc_env:
        words = shlex.split(cc_env)
        exe = words[0] if os.path.isabs(words[0]) and os.access(words[0], os.X_OK) else _which(words[0])
        if exe is None:
            return _missing("cc", f"CC={cc_env!r} names no executable")
        argv, where = [exe, *words[1:]], "via $CC"
    else:
        exe = next((p for p in map(_which, ("cc", "gcc", "clang")) if p), None)
        if exe is None:
            return _missing("cc")
        argv, where = [exe], "on PATH"
    try:
        probe = _probe(cache, "cc", argv, _simple_probe("cc", argv, ["--version"]))
    except _ProbeFailed as e:
        return _missing("cc", f"found {argv[0]} but {e}")
    return _found("cc", argv, where, probe)


def _find_in_homes(cmd: str, homes: list[str]) -> tuple[str, str] | None:
    for var in homes:
        home = os.environ.get(var)
        if home:
            p = _which(cmd, os.path.join(home, "bin"))
            if p:
                return p, f"via ${var}"
    p = _which(cmd)
    return (p, "on PATH") if p else None


def _home_finder(name: str, homes: list[str], version_flag: str) -> Callable[[ProbeCache], Toolchain]:
    """A finder for a JDK tool: looked for under each $HOME/bin in `homes`, then on PATH."""

    def find(cache: ProbeCache) -> Toolchain:
        hit = _find_in_homes(name, homes)
        if hit is None:
            return _missing(name)
        exe, where = hit
        try:
            probe = _probe(cache, name, [exe], _simple_probe(name, [exe], [version_flag]))
        except _ProbeFailed as e:
            return _missing(name, f"found {exe} but {e}")
        return _found(name, [exe], where, probe)

    return find


FINDERS: dict[str, Callable[[ProbeCache], Toolchain]] = {
    "cargo": _find_cargo, "cc": _find_cc, "javac": _home_finder("javac", ["JAVA_HOME"], "-version"),
    "native-image": _home_finder("native-image", ["GRAALVM_HOME", "JAVA_HOME"], "--version")}


# ---------------------------------------------------------------------------------------------
# Cross-build toolchains: Go, a Rust that can build std from source, mingw-w64, wasm-ld.
# Each is found on the machine, like cargo.

_RUST_SRC = os.path.join("lib", "rustlib", "src", "rust", "library", "std", "Cargo.toml")


def _find_go(cache: ProbeCache) -> Toolchain:
    goroot = os.environ.get("GOROOT")
    go = (_which("go", os.path.join(goroot, "bin")) if goroot else None) or _which("go") or _which("go", "/usr/local/go/bin")
    if go is None:
        return _missing("go")
    simple = _simple_probe("go", [go], ["version"])
    try:
        probe = _probe(cache, "go", [go], lambda: _with_parts(simple(), [("bin/go", go)], owned=[go]))
    except _ProbeFailed as e:
        return _missing("go", f"found {go} but {e}")
    tc = _found("go", [go], "on PATH" if _which("go") == go else f"in {os.path.dirname(go)}", probe)
    # `go version` prints "go version go1.26.8 linux/amd64": the version is the third word.
    words = probe.lines[0].split()
    if len(words) >= 3 and words[2].startswith("go"):
        tc.version = words[2][2:]
    return tc


def _find_cargo_build_std(cache: ProbeCache) -> Toolchain:
    """A cargo + rustc pair whose sysroot holds Rust's library sources, so `-Zbuild-std` can
    build std for a target no installed std covers (rustup's dist server may be out of reach;
    Debian's rustc-web/cargo-web/rust-web-src are such a pair in /usr/bin)."""
    dirs = [os.environ["PPM_RUST_BUILD_STD"]] if os.environ.get("PPM_RUST_BUILD_STD") else ["/usr/bin", "/usr/local/bin"]
    for d in dirs:
        cargo, rustc = _which("cargo", d), _which("rustc", d)
        if not cargo or not rustc:
            continue
        real_rustc = os.path.realpath(rustc)
        if os.path.basename(real_rustc).startswith("rustup"):
            continue  # a proxy: its sysroot moves with rustup's settings
        sysroot = os.path.dirname(os.path.dirname(real_rustc))
        src = os.path.join(sysroot, _RUST_SRC)
        if not os.path.isfile(src):
            continue

        def measure(cargo: str = cargo, real_rustc: str = real_rustc, src: str = src) -> _Probe:
            witnesses = [_stat(os.path.realpath(cargo)), _stat(real_rustc), _stat(src)]
            lines = _run_version([cargo, "--version"])[:1] + _run_version([real_rustc, "--version"])[:1]
            library = os.path.dirname(os.path.dirname(src))
            # The library's top (its Cargo.lock) and std's manifest witness the sources: an
            # upgrade replaces them; an edit inside the tree by hand is not noticed until then.
            witnesses += [_stat(os.path.realpath(library)), _stat(os.path.join(library, "Cargo.lock"))]
            probe = _Probe(_version_of(lines[0]), lines, sha256_file(real_rustc), witnesses, real_rustc)
            return _with_parts(probe, [("bin/cargo", cargo), ("bin/rustc", real_rustc)],
                               [("lib/rustlib/src/rust/library", library)], [cargo, real_rustc, src])

        try:
            probe = _probe(cache, "cargo-build-std", [cargo], measure, real_rustc)
        except _ProbeFailed:
            continue
        argv = [cargo]
        vendor = os.path.join(sysroot, "lib", "rustlib", "src", "rust", "library", "vendor")
        if os.path.isdir(vendor):
            # std's own dependencies (libc, hashbrown, wasi, ...) from the copies shipped with the
            # sources, so an offline build-std needs nothing from crates.io. In argv (machine-
            # specific, like the tool's path), not in the action's command: keys stay path-free.
            argv += ["--config", 'source.crates-io.replace-with="ppm-rust-src"',
                     "--config", f'source.ppm-rust-src.directory="{vendor}"']
        tc = _found("cargo-build-std", argv, f"in {d} with Rust's library sources", probe)
        # This cargo must run this rustc (not the first one on PATH), and the sources it
        # builds std from use unstable features: RUSTC_BOOTSTRAP lets a stable rustc do that.
        tc.env = {"RUSTC": real_rustc, "RUSTC_BOOTSTRAP": "1"}
        if os.path.isdir(vendor):  # for a crate with locked dependencies: see builders/cargo.py
            tc.env["PPM_RUST_SRC_VENDOR"] = vendor
        tc.info["sysroot"] = sysroot
        return tc
    return _missing("cargo-build-std")


def _find_mingw(cache: ProbeCache) -> Toolchain:
    gcc = _which("x86_64-w64-mingw32-gcc")
    if gcc is None:
        return _missing("mingw")
    # The driver alone says little: the linker (binutils) and the C runtime it links are the
    # rest of the tool; Debian's packages of them identify those.
    crt = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(gcc))), "x86_64-w64-mingw32", "lib", "libmsvcrt.a")
    owned = [gcc, *(p for p in (_which("x86_64-w64-mingw32-ld"), crt) if p)]
    simple = _simple_probe("mingw", [gcc], ["--version"])
    try:
        probe = _probe(cache, "mingw", [gcc], lambda: _with_parts(simple(), [("bin/x86_64-w64-mingw32-gcc", gcc)], owned=owned))
    except _ProbeFailed as e:
        return _missing("mingw", f"found {gcc} but {e}")
    return _found("mingw", [gcc], "on PATH", probe)


def _find_wasm_ld(cache: ProbeCache) -> Toolchain:
    """LLVM's wasm-ld with wasi-libc beside it: what rustc links a wasm32-wasip1 std with when
    no rust-lld ships with it (Debian's rustc-web has none)."""
    ld = _which("wasm-ld")
    if ld is None:
        return _missing("wasm-ld")
    roots = [os.environ["WASI_SYSROOT"]] if os.environ.get("WASI_SYSROOT") else ["/usr"]
    libdir = next((os.path.join(r, "lib", "wasm32-wasi") for r in roots
                   if os.path.isfile(os.path.join(r, "lib", "wasm32-wasi", "libc.a"))), None)
    if libdir is None:
        return _missing("wasm-ld", f"found {ld} but no wasi-libc (lib/wasm32-wasi/libc.a) in {', '.join(roots)}")
    libc = os.path.join(libdir, "libc.a")
    simple = _simple_probe("wasm-ld", [ld], ["--version"], [libc])
    try:
        probe = _probe(cache, "wasm-ld", [ld],
                       lambda: _with_parts(simple(), [("bin/wasm-ld", ld), ("lib/wasm32-wasi/libc.a", libc)], owned=[ld, libc]),
                       libdir)
    except _ProbeFailed as e:
        return _missing("wasm-ld", f"found {ld} but {e}")
    tc = _found("wasm-ld", [ld], "on PATH", probe)
    # The library path is machine-specific: it travels in the tool's environment, never in a key.
    tc.env = {"CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS": f"-C linker-flavor=wasm-ld -L {libdir}"}
    tc.info["libdir"] = libdir
    return tc


def _find_rust_std(cache: ProbeCache) -> Toolchain:
    """The std rustup installed for other targets beside cargo's rustc (<sysroot>/lib/rustlib/
    <triple>/lib; the host's own comes with the compiler): one part per target, by content."""
    cargo = _find_cargo(cache)
    sysroot = cargo.info.get("sysroot") if cargo.usable else None
    if not sysroot:
        return _missing("rust-std", cargo.note or "no cargo")
    base = os.path.join(sysroot, "lib", "rustlib")
    host = targets.host().rust_triple
    try:
        triples = sorted(d for d in os.listdir(base) if d != host and os.path.isdir(os.path.join(base, d, "lib")))
    except OSError:
        triples = []
    if not triples:
        return _missing("rust-std", f"the cargo in use has no std installed for a target other than {host}")
    dirs = [os.path.join(base, t, "lib") for t in triples]

    def measure() -> _Probe:
        # every file's stat witnesses the digests (a few hundred stats, no reads, per build)
        files = sorted(os.path.join(dp, f) for d in dirs for dp, _, fs in os.walk(d) for f in fs)
        probe = _Probe(cargo.version, [f"rust-std {' '.join(triples)} ({cargo.source})"], "",
                       [_stat(base), *(_stat(d) for d in dirs), *(_stat(f) for f in files)])
        probe.parts = [_tree_part(f"lib/rustlib/{t}/lib", d) for t, d in zip(triples, dirs, strict=True)]
        return probe

    try:
        probe = _probe(cache, "rust-std", cargo.argv[:1], measure, base)
    except OSError as e:
        return _missing("rust-std", f"could not read {base}: {e}")
    tc = _found("rust-std", cargo.argv[:1], f"beside {cargo.argv[0]}", probe)
    tc.info["sysroot"] = sysroot
    return tc


FINDERS.update({"go": _find_go, "cargo-build-std": _find_cargo_build_std, "mingw": _find_mingw,
                 "wasm-ld": _find_wasm_ld, "rust-std": _find_rust_std})
