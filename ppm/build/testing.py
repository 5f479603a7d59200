"""`ppm test`: each component's own tests as engine actions, their results, and JUnit XML.

A test action is an action like any other (planned by its builder's `plan_tests`, keyed, cached):
a passing run is stored, so a second `ppm test` with nothing changed reruns none. A failing run
is never cached (only exit 0 is), so it reruns until it passes. The runner's output is kept in
the component's {state} directory whether the run passed or failed (builders.base.test_command),
and parsed here into test cases by the runner's own format.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from ppm import targets
from ppm.build import fastpath
from ppm.build.engine import Engine
from ppm.build.plan import make_plan
from ppm.builders.base import TEST_LOG, test_log_path
from ppm.core import manifest
from ppm.core.errors import ActionFailed
from ppm.core.fsutil import atomic_write_bytes
from ppm.core.paths import state_dir
from ppm.lockfile.sync import ensure_synced


@dataclass
class TestCase:
    name: str
    status: str  # passed | failed | skipped
    message: str = ""


@dataclass
class SuiteResult:
    """One test action's outcome: a suite of cases."""

    component: str
    action: str
    status: str  # passed | failed | skipped
    cached: bool
    seconds: float
    cases: list[TestCase] = field(default_factory=list)
    log: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "action": self.action, "status": self.status, "cached": self.cached,
                "seconds": round(self.seconds, 3), "error": self.error,
                "cases": [{"name": c.name, "status": c.status, "message": c.message} for c in self.cases]}


@dataclass
class TestReport:
    project: str
    suites: list[SuiteResult] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)  # components without tests
    seconds: float = 0.0

    @property
    def failed(self) -> list[SuiteResult]:
        return [s for s in self.suites if s.status != "passed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "ran": sum(1 for s in self.suites if s.status != "skipped" and not s.cached),
            "cached": sum(1 for s in self.suites if s.cached),
            "passed": sum(1 for s in self.suites if s.status == "passed"),
            "failed": sum(1 for s in self.suites if s.status != "passed"),
            "cases_passed": sum(1 for s in self.suites for c in s.cases if c.status == "passed"),
            "cases_failed": sum(1 for s in self.suites for c in s.cases if c.status == "failed"),
            "seconds": round(self.seconds, 3),
            "no_tests": self.no_tests,
            "suites": [s.to_json() for s in self.suites],
        }


def run_tests(root: Path, components: list[str] | None = None, *, jobs: int | None = None,
              progress: Any = None, report: Any = None) -> TestReport:
    """Build what the named components' tests need (default: every component), run the tests,
    and gather their results. Raises PpmError only when nothing could be tested."""
    t0 = time.time()
    state = state_dir(root)
    state.mkdir(parents=True, exist_ok=True)
    with FileLock(str(state / "build.lock")):
        fastpath.forget(root)
        m = manifest.load(root)
        ensure_synced(root, m, report=report)
        names = list(components) if components else list(m.components)
        plan = make_plan(m, [targets.host().name], report=report, tests=names)
        # Only what the tests need: the host's own bundle, for one, is not built for pytest.
        keep: dict[int, Any] = {}
        stack = list(plan.tests)
        while stack:
            pa = stack.pop()
            if id(pa) not in keep:
                keep[id(pa)] = pa
                stack.extend(pa.needs)
        plan = replace(plan, actions=[pa for pa in plan.actions if id(pa) in keep])
        rep = TestReport(m.name)
        tested = {pa.component.name for pa in plan.tests}
        rep.no_tests = [n for n in names if n not in tested]
        if not plan.tests:
            rep.seconds = time.time() - t0
            return rep
        engine = Engine(plan, jobs=jobs or os.cpu_count() or 1, keep_going=True, progress=progress)
        logs = {pa.id: Path(engine.layout.incremental_dir(pa)) / test_log_path(pa.action.name) for pa in plan.tests}
        for p in logs.values():  # a log left by an earlier run must not pass for this one's
            p.unlink(missing_ok=True)
        if progress is not None:
            progress.total = len(plan.actions)
        with contextlib.suppress(ActionFailed):  # each failure is in engine.results; the report names them
            engine.run()
        for pa in plan.tests:
            r = engine.results[pa.id]
            fmt = pa.builder.test_format
            if r.status in ("ran", "cached", "up-to-date"):
                log = _read(Path(r.out_dir) / TEST_LOG)
                status = "passed"
            elif r.status == "failed":
                log = _read(logs[pa.id])
                status = "failed"
            else:
                log, status = "", "skipped"
            cases = parse(fmt, log, pa.action.name) if log else []
            if fmt == "exit" or not cases:
                label = pa.action.name.removeprefix("test-") if fmt == "exit" else pa.action.name
                msg = (_tail(log) or r.error) if status == "failed" else r.reason if status == "skipped" else ""
                cases = [TestCase(label, status, msg)]
            elif status == "failed" and not any(c.status == "failed" for c in cases):
                cases.append(TestCase(pa.action.name, "failed", _tail(log) or r.error))
            rep.suites.append(SuiteResult(pa.component.name, pa.id, status, r.status in ("cached", "up-to-date"),
                                          max(0.0, r.end - r.start), cases, log,
                                          r.error if status == "failed" else r.reason if status == "skipped" else ""))
    rep.seconds = time.time() - t0
    return rep


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _tail(log: str, n: int = 30) -> str:
    return "\n".join(log.splitlines()[-n:])


# -- the runners' output formats -------------------------------------------------------------

_CARGO = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b", re.M)
_ZIG_FAIL = re.compile(r"^error: '([^']+)' failed", re.M)
# "1/2 main.test.NAME...OK"; a failure's message follows the dots, "FAIL (Error)" comes after it.
_ZIG_LINE = re.compile(r"^\d+/\d+ (?:\S+?\.)?test\.(.+?)\.\.\.(.*?)(?=^\d+/\d+ |^\d+ passed;|^All \d+ tests|\Z)",
                       re.M | re.S)
_TAP = re.compile(r"^(not ok|ok) \d+ - (.+?)(?:\s+# (SKIP|TODO)\b.*)?$", re.M)
_PYTEST = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)(?: - (.*))?$", re.M)
_GO = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+)", re.M)


def parse(fmt: str, log: str, action: str) -> list[TestCase]:
    """Test cases from a runner's output; [] when the format names none (the caller then makes
    one case of the whole action)."""
    if fmt == "cargo":
        cases = [TestCase(n, {"ok": "passed", "FAILED": "failed"}.get(s, "skipped")) for n, s in _CARGO.findall(log)]
        for c in cases:
            if c.status == "failed":
                m = re.search(rf"^---- {re.escape(c.name)} stdout ----\n(.*?)(?=^----|^failures:|\Z)", log, re.M | re.S)
                c.message = m.group(1).strip() if m else ""
        return cases
    if fmt == "zig":
        cases = [TestCase(n, "passed" if rest.startswith("OK") else "skipped" if rest.startswith("SKIP") else "failed",
                          "" if rest.startswith(("OK", "SKIP")) else rest.strip())
                 for n, rest in _ZIG_LINE.findall(log)]
        if not cases:
            # zig prints nothing per test when all pass, and "error: 'main.test.NAME' failed" per failure.
            failed = [n.split("test.", 1)[-1] for n in _ZIG_FAIL.findall(log)]
            cases = [TestCase(n, "failed", _tail(log, 10)) for n in failed]
            m = re.search(r"All (\d+) tests passed", log)
            if m and not cases:
                cases = [TestCase(f"{action} ({m.group(1)} tests)", "passed")]
        return cases
    if fmt == "tap":
        return [TestCase(n, "skipped" if d else "passed" if s == "ok" else "failed") for s, n, d in _TAP.findall(log)]
    if fmt == "pytest":
        kinds = {"PASSED": "passed", "XFAIL": "passed", "XPASS": "passed", "SKIPPED": "skipped"}
        return [TestCase(n, kinds.get(k, "failed"), msg or "") for k, n, msg in _PYTEST.findall(log)]
    if fmt == "go":
        return [TestCase(n, {"PASS": "passed", "FAIL": "failed"}.get(s, "skipped")) for s, n in _GO.findall(log)]
    return []


# -- JUnit XML -------------------------------------------------------------------------------

def junit_xml(rep: TestReport) -> bytes:
    """The JUnit XML CI systems read (the Ant/Jenkins schema): one <testsuite> per component."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname() or "localhost"
    by_comp: dict[str, list[SuiteResult]] = {}
    for s in rep.suites:
        by_comp.setdefault(s.component, []).append(s)
    every = [c for s in rep.suites for c in s.cases]
    top = ET.Element("testsuites", {"name": rep.project, "tests": str(len(every)),
                                    "failures": str(sum(1 for c in every if c.status == "failed")), "errors": "0",
                                    "time": f"{sum(s.seconds for s in rep.suites):.3f}"})
    for i, (comp, suites) in enumerate(sorted(by_comp.items())):
        cases = [(s, c) for s in suites for c in s.cases]
        ts = ET.SubElement(top, "testsuite", {
            "package": rep.project, "id": str(i), "name": comp, "timestamp": stamp, "hostname": host,
            "tests": str(len(cases)), "failures": str(sum(1 for _, c in cases if c.status == "failed")),
            "errors": "0", "skipped": str(sum(1 for _, c in cases if c.status == "skipped")),
            "time": f"{sum(s.seconds for s in suites):.3f}"})
        ET.SubElement(ts, "properties")
        for s, c in cases:
            tc = ET.SubElement(ts, "testcase", {"name": c.name, "classname": f"{comp}.{s.action.split(':', 1)[-1]}",
                                                "time": f"{s.seconds / max(1, len(s.cases)):.3f}"})
            if c.status == "failed":
                f = ET.SubElement(tc, "failure", {"message": (c.message.splitlines() or ["failed"])[0][:200],
                                                  "type": "failure"})
                f.text = _xml_text(c.message)
            elif c.status == "skipped":
                ET.SubElement(tc, "skipped")
        ET.SubElement(ts, "system-out").text = _xml_text("\n".join(s.log for s in suites))
        ET.SubElement(ts, "system-err").text = ""
    ET.indent(top)
    xml: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return xml


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_text(s: str) -> str:
    """XML 1.0 cannot hold most control characters (a runner's colour codes among them)."""
    return _CONTROL.sub("", s)


def write_junit(rep: TestReport, path: Path) -> None:
    atomic_write_bytes(path, junit_xml(rep))

