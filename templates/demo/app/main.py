"""{{name}}: the Python host of a small polyglot app.

ppm builds every component this one needs (Rust, C, Zig, TypeScript, Java) and PyInstaller
embeds their outputs in one executable under ppm_deps/<component>/, next to
ppm_components.json, which says what was embedded and which optional component was skipped.
This file loads each native library with ctypes and prints one line per language.

  {{name}}                  one line per language
  {{name}} ui --out FILE    write the embedded UI bundle to FILE
  {{name}} --self-check     exit 0 if every embedded component loads and answers correctly
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

APP = "{{name}}"
DEPS = "ppm_deps"
MANIFEST = "ppm_components.json"


def bundle_dir() -> Path:
    """Where the embedded files are: PyInstaller unpacks them into sys._MEIPASS; run from
    source, point PPM_BUNDLE_DIR at a directory laid out the same way."""
    if getattr(sys, "frozen", False):
        return Path(sys._MEIPASS)
    return Path(os.environ.get("PPM_BUNDLE_DIR", Path(__file__).resolve().parent))


@dataclass
class Bundle:
    root: Path
    embedded: dict[str, list[str]] = field(default_factory=dict)  # component -> its files
    skipped: list[str] = field(default_factory=list)  # optional components not built
    target: str = ""

    @classmethod
    def load(cls, root: Path) -> Bundle:
        try:
            data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(root)
        return cls(root, dict(data.get("embedded", {})), list(data.get("skipped", [])), data.get("target", ""))

    def file(self, component: str, suffixes: tuple[str, ...] = ()) -> Path:
        """The component's embedded file (the first whose name ends with one of `suffixes`)."""
        files = self.embedded.get(component)
        if not files:
            raise LookupError(f"component {component!r} is not embedded in this bundle")
        for f in files:
            if not suffixes or f.endswith(suffixes):
                return self.root / DEPS / component / f
        raise LookupError(f"component {component!r} has no file ending with {' or '.join(suffixes)}: {files}")


LIB_SUFFIXES = (".so", ".dylib", ".dll")


def _lib(bundle: Bundle, component: str) -> ctypes.CDLL:
    return ctypes.CDLL(str(bundle.file(component, LIB_SUFFIXES)))


def rust(bundle: Bundle) -> str:
    lib = _lib(bundle, "core")
    lib.core_fibonacci.argtypes = [ctypes.c_uint32]
    lib.core_fibonacci.restype = ctypes.c_uint64
    lib.core_version.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.core_version.restype = ctypes.c_size_t
    buf = ctypes.create_string_buffer(64)
    lib.core_version(buf, len(buf))
    fib = lib.core_fibonacci(20)
    _expect(fib, 6765, "core_fibonacci(20)")
    return f"fibonacci(20) = {fib} ({buf.value.decode()})"


def c(bundle: Bundle) -> str:
    lib = _lib(bundle, "cmath")
    lib.cmath_gcd.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    lib.cmath_gcd.restype = ctypes.c_uint64
    lib.cmath_count_primes.argtypes = [ctypes.c_uint32]
    lib.cmath_count_primes.restype = ctypes.c_uint32
    gcd = lib.cmath_gcd(1071, 462)
    primes = lib.cmath_count_primes(100)
    _expect(gcd, 21, "cmath_gcd(1071, 462)")
    _expect(primes, 25, "cmath_count_primes(100)")
    return f"gcd(1071, 462) = {gcd}, primes up to 100 = {primes}"


def zig(bundle: Bundle) -> str:
    lib = _lib(bundle, "zigz")
    lib.zigz_sum_squares.argtypes = [ctypes.c_uint32]
    lib.zigz_sum_squares.restype = ctypes.c_uint64
    total = lib.zigz_sum_squares(10)
    _expect(total, 385, "zigz_sum_squares(10)")
    return f"sum_of_squares(10) = {total}"


def java(bundle: Bundle) -> str:
    exe = bundle.file("greeter")
    # An embedded file may come out of the archive without its executable bit.
    mode = exe.stat().st_mode
    if not mode & stat.S_IXUSR:
        exe.chmod(mode | stat.S_IXUSR)
    out = subprocess.run([str(exe), "27"], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    _expect(out, "collatz_steps(27) = 111", "greeter 27")
    return out


def typescript(bundle: Bundle) -> str:
    data = bundle.file("ui", (".js",)).read_bytes()
    return f"ui bundle {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def _expect(got: object, want: object, what: str) -> None:
    if got != want:
        raise RuntimeError(f"{what} returned {got!r}, expected {want!r}")


# language -> (component, check); Python is the host itself.
CHECKS: dict[str, tuple[str, Callable[[Bundle], str]]] = {
    "rust": ("core", rust),
    "c": ("cmath", c),
    "zig": ("zigz", zig),
    "java": ("greeter", java),
    "typescript": ("ui", typescript),
}
SKIP_REASON = {"greeter": "native-image was not available when this bundle was built"}


def report(bundle: Bundle) -> int:
    print(f"{APP}: one executable, six languages" + (f" ({bundle.target})" if bundle.target else ""))
    status = 0
    for language, (component, check) in CHECKS.items():
        if component in bundle.skipped:
            reason = SKIP_REASON.get(component, "its toolchain was not available when this bundle was built")
            print(f"{language}: skipped ({reason})")
            continue
        try:
            print(f"{language}: {check(bundle)}")
        except Exception as e:  # one broken component should not hide the others
            print(f"{language}: error: {e}")
            status = 1
    print(f"python: {platform.python_version()}")
    return status


def self_check(bundle: Bundle) -> int:
    if not bundle.embedded:
        print(f"{APP}: no embedded components found in {bundle.root}", file=sys.stderr)
        return 1
    checks = {component: check for component, check in CHECKS.values()}
    failed = 0
    for component in sorted(bundle.embedded):
        check = checks.get(component)
        try:
            if check is not None:
                check(bundle)
            else:  # a component this host does not know: at least it must be there
                for f in bundle.embedded[component]:
                    (bundle.root / DEPS / component / f).stat()
            print(f"ok    {component}")
        except Exception as e:
            print(f"FAIL  {component}: {e}")
            failed += 1
    for component in bundle.skipped:
        print(f"skip  {component}")
    return 1 if failed else 0


def write_ui(bundle: Bundle, out: Path) -> int:
    try:
        data = bundle.file("ui", (".js",)).read_bytes()
    except LookupError as e:
        print(f"{APP}: {e}", file=sys.stderr)
        return 1
    out.write_bytes(data)
    print(f"wrote {len(data)} bytes to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=APP, description="A small polyglot app built by ppm.")
    parser.add_argument("--self-check", action="store_true", help="exit 0 if every embedded component loads")
    sub = parser.add_subparsers(dest="command")
    ui = sub.add_parser("ui", help="write the embedded UI bundle to a file")
    ui.add_argument("--out", type=Path, required=True, help="where to write the JavaScript bundle")
    args = parser.parse_args(argv)

    bundle = Bundle.load(bundle_dir())
    if args.self_check:
        return self_check(bundle)
    if args.command == "ui":
        return write_ui(bundle, args.out)
    return report(bundle)


if __name__ == "__main__":
    sys.exit(main())
