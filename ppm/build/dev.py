"""`ppm dev`: build what the host needs, run the host from its sources, and on every change
rerun exactly the affected actions (the engine's keys decide which) and restart the host.

A host whose builder can run it from its sources (Builder.dev_run: the Python host runs its
script with the needed outputs staged as the bundle holds them) skips its bundle step, which
is most of an edit's cost; any other host is built as usual and its executable run. UI
components (esbuild) are also served by esbuild's own watch + serve, with live reload.
A failed build is printed and the loop waits for the next change; the last good host keeps
running meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles

from ppm import targets, toolchains
from ppm.build.layout import Layout
from ppm.build.localexec import _internal as run_internal
from ppm.build.plan import synced_for
from ppm.build.run import build
from ppm.builders import REGISTRY
from ppm.builders.base import Builder, PlanContext
from ppm.core import manifest
from ppm.core.errors import PpmError
from ppm.core.paths import state_dir
from ppm.lockfile.toolchains import locked_pins

IGNORED_DIRS = (".ppm", "dist", "target", "node_modules", "zig-cache", ".zig-cache", "zig-out", "__pycache__", ".git")
LIVE_RELOAD = "new EventSource('/esbuild').addEventListener('change', () => location.reload());"


@dataclass
class HostProcess:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


@dataclass
class DevLoop:
    root: Path
    report: Callable[[str], None]
    error: Callable[[str], None]
    jobs: int | None = None
    serve_ui: bool = True
    port: int | None = None
    progress: Any = None
    host: subprocess.Popen[bytes] | None = None
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ui_urls: dict[str, str] = field(default_factory=dict)
    cycles: int = 0

    # -- one build and restart ---------------------------------------------------------------
    def cycle(self) -> bool:
        """Build what changed and restart the host; False (after printing why) when the build failed."""
        started = time.monotonic()
        self.cycles += 1
        try:
            m = manifest.load(self.root)
            if not m.entry:
                raise PpmError("ppm dev runs the entry component, and ppm.toml names none",
                               hint='set `entry = "NAME"` under [project]')
            entry = m.components[m.entry]
            from_sources = REGISTRY[entry.builder].dev_run is not Builder.dev_run
            comps = list(entry.needs) if from_sources else [m.entry]
            host = targets.host().name
            summary = build(self.root, targets=[host], components=comps or [m.entry], jobs=self.jobs,
                            progress=self.progress)
            proc = self._host_process(m, entry, summary, from_sources)
        except PpmError as e:
            self.error(str(e))
            self.report("ppm dev: fix it and save; waiting for a change…")
            return False
        ran = summary.executed + summary.cached
        self.report(f"ppm dev: built in {time.monotonic() - started:.2f}s ({ran} action(s) ran or came from the cache); "
                    f"starting {m.entry}")
        self._restart(proc)
        return True

    def _host_process(self, m: Any, entry: Any, summary: Any, from_sources: bool) -> HostProcess:
        host = targets.host()
        plan = summary.plan
        if not from_sources:
            exe = [p for p in summary.finals.get((host.name, m.entry), []) if os.access(p, os.X_OK)]
            if not exe:
                raise PpmError(f"the entry component {m.entry!r} builds no executable to run")
            return HostProcess([str(exe[0])], dict(os.environ), self.root)
        layout = Layout(state_dir(self.root))
        deps = {n: list(plan.finals[(host.name, n)].action.outputs) for n in entry.needs if n not in plan.skipped}
        dep_dirs = {n: str(layout.out_dir(plan.finals[(host.name, n)])) for n in deps}
        # The host itself is not in the plan (its bundle is not built): resolve its toolchains here.
        tcs = dict(plan.toolchains)
        missing = [t for t in REGISTRY[entry.builder].tools_for(entry, host) if t not in tcs]
        if missing:
            tcs.update(toolchains.resolve(missing, provision=True, pins=locked_pins(self.root)))
        ctx = PlanContext(root=self.root, target=host, deps=deps, toolchains=tcs,
                          synced=synced_for(self.root, entry.name))
        run = REGISTRY[entry.builder]().dev_run(entry, ctx)
        if run is None:
            raise PpmError(f"ppm dev: the {entry.builder} builder of {entry.name!r} has no way to run from its sources yet",
                           hint="use `ppm run` (it builds the bundle)")
        stage = state_dir(self.root) / "dev" / "stage"
        words = {"src": str(self.root / entry.path), "project": str(self.root), "stage": str(stage)}

        def expand(w: str) -> str:
            for k, v in words.items():
                w = w.replace(f"{{{k}}}", v)
            for n, d in dep_dirs.items():
                w = w.replace(f"{{dep:{n}}}", d)
            return w

        shutil.rmtree(stage, ignore_errors=True)
        for cmd in run.stage:
            # the engine's own commands (@write's text is content, not a path: left as it is)
            stage_cmd = [cmd[0], expand(cmd[1]), cmd[2] if cmd[0] == "@write" else expand(cmd[2]), *cmd[3:]]
            run_internal("ppm dev: staging", stage_cmd, str(self.root))
        argv: list[str] = []
        for w in run.argv:
            if w.startswith("{tool:") and w.endswith("}"):
                argv += list(tcs[w[6:-1]].argv)
            else:
                argv.append(expand(w))
        env = dict(os.environ)
        env.update({k: expand(v) for k, v in run.env})
        return HostProcess(argv, env, self.root)

    def _restart(self, proc: HostProcess) -> None:
        self.stop_host()
        self.report(f"$ {shlex.join(proc.argv)}")
        self.host = subprocess.Popen(proc.argv, env=proc.env, cwd=proc.cwd, start_new_session=True)

    def stop_host(self) -> None:
        if self.host is not None and self.host.poll() is None:
            _terminate(self.host)
        self.host = None

    # -- UI components: esbuild's own watch and serve ------------------------------------------
    def start_ui_servers(self) -> None:
        m = manifest.load(self.root)
        uis = [c for c in m.components.values() if c.builder == "esbuild"]
        if not uis:
            return
        tc = toolchains.resolve(["esbuild"], provision=True)["esbuild"]
        if not tc.usable:
            self.error(f"esbuild is not usable ({tc.note}): the UI is not served")
            return
        for c in uis:
            port = self.port if self.port and len(uis) == 1 else _free_port()
            out = state_dir(self.root) / "dev" / "ui" / c.name
            out.mkdir(parents=True, exist_ok=True)
            entry = c.settings.get("entry", "src/main.ts")
            stem = Path(entry).stem
            index = out / "index.html"
            if not index.exists():
                index.write_text(f'<!doctype html>\n<meta charset="utf-8">\n<title>{c.name}</title>\n'
                                 f'<div id="app"></div>\n<script src="{stem}.js"></script>\n', encoding="utf-8")
            argv = [*tc.argv, str(self.root / c.path / entry), "--bundle", f"--outdir={out}", "--watch=forever",
                    f"--servedir={out}", f"--serve=127.0.0.1:{port}", f"--banner:js={LIVE_RELOAD}",
                    "--log-level=warning", "--sourcemap"]
            self.servers.append(subprocess.Popen(argv, cwd=self.root / c.path, stdin=subprocess.DEVNULL,
                                                 start_new_session=True))
            self.ui_urls[c.name] = f"http://127.0.0.1:{port}/"
            self.report(f"ppm dev: {c.name} served at http://127.0.0.1:{port}/ (live reload)")

    # -- the loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        if self.serve_ui:
            self.start_ui_servers()
        try:
            self.cycle()
            flt = watchfiles.DefaultFilter(ignore_dirs=IGNORED_DIRS)
            for changes in watchfiles.watch(self.root, watch_filter=flt, stop_event=stop, debounce=100, step=20,
                                            raise_interrupt=False):
                names = sorted({os.path.relpath(p, self.root) for _, p in changes})
                self.report(f"ppm dev: changed: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}")
                self.cycle()
        finally:
            self.stop_host()
            for s in self.servers:
                _terminate(s)


def _terminate(p: subprocess.Popen[bytes]) -> None:
    """The process and its children (its own session): TERM, then KILL after 3 s."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(3)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
