"""The no-op fast path: answer `ppm build` from the last build's record, before importing the
CLI framework or the engine.

After a successful build, the record lists the (size, mtime, inode) of everything that could
change the result: ppm.toml and ppm.lock, every action's input files and scanned directories,
the materialized outputs and bundles, the toolchains' executables, ppm's own planning code,
and the environment variables that select toolchains. If all of them are unchanged, nothing
can run, and the build is answered in a few milliseconds. Anything else (any doubt at all)
falls through to the full build, which is always correct on its own.

Imports: the standard library only at module level (and ppm.core.projectroot, which uses `os`
alone; not even `typing` or `pathlib`, a few ms each), since this module runs before anything else; record(), called after a full build, imports what it needs inside (an exception to the
rule of top-level imports, listed in ppm/cli/__init__.py).
"""

from __future__ import annotations

import json
import os
import sys
import time

from ppm.core import projectroot

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers read it as True
if TYPE_CHECKING:  # annotations only
    from pathlib import Path
    from typing import Any

    from ppm.build.engine import Engine
    from ppm.build.plan import Plan
    from ppm.build.results import Result
    from ppm.build.run import BuildSummary

RECORD = "noop.json"
SUMMARY = "last-build.json"
ENV_KEYS = ("PATH", "CC", "CXX", "GRAALVM_HOME", "JAVA_HOME", "PPM_CACHE_DIR", "PPM_TOOLCHAINS_DIR", "PPM_OFFLINE", "CARGO_HOME", "RUSTUP_TOOLCHAIN",
            "GOROOT", "PPM_RUST_BUILD_STD", "WASI_SYSROOT")
RACY_NS = 50_000_000
FORMAT = 1



# Options that only matter when something runs: a no-op honours them by running nothing. (The
# remote's URLs are checked by the full path; a no-op never reaches the remote.)
REMOTE_VALUED = ("--remote-cache", "--remote-executor", "--remote-fallback")
REMOTE_FLAGS = ("--remote-upload", "--no-remote-upload")


def _parse(argv: list[str]) -> dict[str, Any] | None:
    """The few options a no-op can honour; anything else means: take the full path."""
    opts: dict[str, Any] = {"json": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            opts["json"] = True
        elif a in ("-j", "--jobs") and i + 1 < len(argv) and argv[i + 1].isdigit():
            i += 1
        elif a in REMOTE_VALUED and i + 1 < len(argv) and _remote_value(a, argv[i + 1]):
            opts[a] = argv[i + 1]
            i += 1
        elif _remote_option(a):
            option, _, value = a.partition("=")
            opts[option] = value
        elif a in REMOTE_FLAGS or (a.startswith("-j") and a[2:].isdigit()) or (a.startswith("--jobs=") and a[7:].isdigit()):
            pass
        else:
            return None
        i += 1
    return opts


def _remote_option(arg: str) -> bool:
    """`--remote-…=VALUE` with a plausible value."""
    option, eq, value = arg.partition("=")
    return bool(eq) and option in REMOTE_VALUED and _remote_value(option, value)


def _remote_value(option: str, value: str) -> bool:
    """A plausible value (anything odd takes the full path, which names the mistake)."""
    if option == "--remote-fallback":
        return value in ("local", "none")
    return value.startswith(("grpc://", "grpcs://", "http://", "https://"))


def try_noop(argv: list[str]) -> int | None:
    """Exit code if the build is provably a no-op (after printing so), else None."""
    opts = _parse(argv)
    if opts is None:
        return None
    root = projectroot.find(os.getcwd())
    if root is None:
        return None
    state = os.path.join(root, ".ppm")
    try:
        with open(os.path.join(state, RECORD), "rb") as f:
            rec = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or rec.get("ppm") != _version():
        return None
    executor = rec.get("executor")
    if executor is not None:
        # Actions for another platform were run by a remote executor: only the same one makes
        # this a no-op (without it, the full path names what this machine cannot build).
        effective = opts.get("--remote-executor") or os.environ.get("PPM_REMOTE_EXECUTOR") or executor.get("toml")
        if effective != executor.get("url"):
            return None
    env = rec.get("env", {})
    for k in ENV_KEYS:
        if os.environ.get(k) != env.get(k):
            return None
    limit = rec.get("recorded_ns", 0) - RACY_NS
    stat = os.stat
    try:
        for path, size, mtime, ino in rec["files"]:
            st = stat(path)
            if st.st_mtime_ns != mtime or st.st_size != size or st.st_ino != ino or mtime >= limit:
                return None
        for path in rec.get("absent", ()):
            if os.path.exists(path):
                return None
    except (OSError, KeyError, ValueError, TypeError):
        return None
    n = rec.get("actions", 0)
    if opts["json"]:
        try:
            with open(os.path.join(state, SUMMARY), "rb") as f:
                summary = json.loads(f.read())
        except (OSError, ValueError):
            return None
        for a in summary.get("actions", []):
            a["status"], a["reason"] = "up-to-date", "up to date"
        summary.update(actions_executed=0, actions_cached=0, actions_up_to_date=n, actions_failed=0,
                       actions_remote_cached=0, actions_remote_executed=0, seconds=0.0, fast_path=True)
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    sys.stderr.write(f"nothing to do: {n} action{'s' if n != 1 else ''} up to date\n")
    return 0


def _version() -> str:
    from ppm import __version__

    return __version__


def forget(root: str | os.PathLike[str]) -> None:
    """Drop the record: called when a build starts, so a killed build never leaves a stale one."""
    try:
        os.unlink(os.path.join(str(root), ".ppm", RECORD))
    except FileNotFoundError:
        pass


def record(root: str | os.PathLike[str], plan: Plan, engine: Engine, results: list[Result], bundles: list[Path],
           summary: BuildSummary, *, executor: dict[str, str | None] | None = None) -> None:
    """Write the record after a successful build (and the summary `--json` replays). `executor`
    (its URL, and ppm.toml's [remote] executor) when the build needed a remote executor."""
    from pathlib import Path

    from ppm.core.fsutil import atomic_write_text

    root = Path(root)
    paths: set[str] = set()
    absent: list[str] = []
    for name in ("ppm.toml", "ppm.lock"):
        p = root / name
        (paths.add(str(p)) if p.exists() else absent.append(str(p)))
    for pa in plan.actions:
        for rel in pa.action.inputs:
            paths.add(str(root / rel))
        for rel in pa.action.scanned_dirs:
            paths.add(str(root / rel))
        res = engine.results[pa.id]
        if res.lazy:
            continue  # held remotely (see ppm.build.record): nothing here to watch, nothing needed here
        for rel in res.outputs:
            paths.add(str(Path(res.out_dir) / rel))
    for b in bundles:
        paths.add(str(b))
    for tc in plan.toolchains.values():
        if tc.usable and tc.argv:
            exe = tc.argv[0]
            if os.path.isabs(exe):
                paths.add(exe)
    # The directories toolchains are looked up in: installing one there (native-image for a
    # skipped optional component, say) changes the directory's mtime.
    search = os.environ.get("PATH", "").split(os.pathsep)
    search += [os.path.join(os.environ[k], "bin") for k in ("GRAALVM_HOME", "JAVA_HOME") if os.environ.get(k)]
    for d in search:
        if d and os.path.isdir(d):
            paths.add(os.path.abspath(d))
    # ppm's own code that decides what the actions are: every module of every package it
    # installs (the repository's folders map to ppm.builders, ppm.lockfile, ... in an
    # editable install, so each package's own path is walked).
    import ppm
    from ppm import builders, lockfile, targets

    for pkg in (ppm, builders, lockfile, targets):
        for top in pkg.__path__:
            for d, dirs, fns in os.walk(top):
                dirs[:] = [x for x in dirs if x != "__pycache__" and x != "templates"]
                paths.update(os.path.join(d, fn) for fn in fns if fn.endswith(".py"))
    files: list[tuple[str, int, int, int]] = []
    for path in sorted(paths):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return  # something vanished during the build: no record, the next build checks everything
        files.append((path, st.st_size, st.st_mtime_ns, st.st_ino))
    # A file written within RACY_NS of the record could change again without its mtime moving;
    # wait that window out (at most 50 ms, only after a build that wrote something) rather
    # than leave a record the next no-op cannot trust.
    newest = max((f[2] for f in files), default=0)
    wait_ns = newest + RACY_NS + 1_000_000 - time.time_ns()
    if 0 < wait_ns <= RACY_NS + 1_000_000:
        time.sleep(wait_ns / 1e9)
    rec = {"format": FORMAT, "ppm": _version(), "recorded_ns": time.time_ns(),
           "env": {k: os.environ.get(k) for k in ENV_KEYS}, "actions": len(plan.actions),
           "files": files, "absent": absent, "executor": executor}
    state = root / ".ppm"
    atomic_write_text(state / SUMMARY, json.dumps(summary.to_json()))
    atomic_write_text(state / RECORD, json.dumps(rec, separators=(",", ":")))
