"""Remote execution on a real farm on 127.0.0.1: BuildGrid on PostgreSQL, two `ppm worker`s.

The workers' C compiler is a wrapper that sleeps before running cc, so that an action lasts
long enough to kill a worker or restart the server in the middle of it. The client uses the
same wrapper: a toolchain's identity covers its binary, and a worker only takes actions whose
exact toolchains it offers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from remote_servers import (
    BuildGrid,
    Postgres,
    free_port,
    missing_buildgrid,
    missing_postgres,
)
from test_remote_cache import bundle, checkout

from helpers import run_ppm

pytestmark = [pytest.mark.remote]

SLOW = 1.5  # seconds each compile or link sleeps on a worker


@dataclass
class Farm:
    server: BuildGrid
    workers: list[subprocess.Popen]
    env: dict[str, str]  # what the client needs: the same compiler wrapper as the workers
    root: Path

    @property
    def url(self) -> str:
        return self.server.url

    def start_worker(self, i: int, *extra: str) -> subprocess.Popen:
        log = open(self.root / f"worker{i}.log", "ab")  # noqa: SIM115 - the process owns it
        env = {**os.environ, **self.env, "PPM_CACHE_DIR": str(self.root / f"worker{i}-cache")}
        p = subprocess.Popen([sys.executable, "-m", "ppm", "worker", "--server", self.url, "--jobs", "1",
                              "--work-dir", str(self.root / f"worker{i}"), *extra], env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        if i == len(self.workers):
            self.workers.append(p)
        self.workers[i] = p
        return p

    def wait_connected(self, i: int, after: int = 0) -> None:
        """Until worker i has said (for the after+1-th time) that it is connected."""
        deadline = time.time() + 60
        while self.log(i).count("connected to") <= after:
            if time.time() > deadline or self.workers[i].poll() is not None:
                raise AssertionError(f"worker {i} did not connect:\n{self.log(i)}")
            time.sleep(0.1)

    def log(self, i: int) -> str:
        return (self.root / f"worker{i}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    for why in (missing_buildgrid(), missing_postgres()):
        if why:
            pytest.skip(why)
    from ppm.core.paths import toolchains_dir

    root = tmp_path_factory.mktemp("farm")
    slowcc = root / "slowcc"
    slowcc.write_text(f"#!/bin/sh\nsleep {SLOW}\nexec cc \"$@\"\n")
    slowcc.chmod(0o755)
    pg = Postgres()
    pg.start()
    server = BuildGrid(root / "bgd", sql=pg.url)
    server.start()
    f = Farm(server, [None, None], {"CC": str(slowcc), "PPM_TOOLCHAINS_DIR": str(toolchains_dir())}, root)  # type: ignore[list-item]
    for i in range(2):
        f.start_worker(i)
    for i in range(2):
        f.wait_connected(i)
    yield f
    for p in f.workers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in f.workers:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
    server.stop()
    pg.stop()


def build(root: Path, env: dict[str, str], *args: str, check: bool = True) -> tuple[dict, subprocess.CompletedProcess[str]]:
    p = run_ppm("build", "--json", *args, cwd=root, env=env, check=check, timeout=300)
    return (json.loads(p.stdout) if p.stdout.strip() else {}), p


def test_clean_build_executes_nothing_locally(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    salt = uuid.uuid4().hex
    a, env = checkout(tmp_path, "a", salt)
    s, p = build(a, {**env, **farm.env}, "--remote-executor", farm.url, "-j4", "--explain")
    assert s["actions_remote_executed"] == s["actions_executed"] == 4, p.stderr
    assert "ran remotely" in p.stderr
    (exe,) = (a / "dist").glob("*/app")
    assert subprocess.run(["env", "-i", str(exe)], capture_output=True, text=True, check=True).stdout == "5\n"
    # Only the bundle came down: the intermediate outputs stayed on the server.
    local = {x["id"]: Path(next(iter(x["outputs"].values()))["path"]).exists() for x in s["actions"]}
    assert local == {"mathx:compile-src/add.c": False, "mathx:link": False, "app:compile-src/main.c": False,
                     "app:link": True}
    # A second checkout with an empty local cache is answered by the server's action cache.
    b, env_b = checkout(tmp_path, "b", salt)
    s2, p = build(b, {**env_b, **farm.env}, "--remote-executor", farm.url)
    assert s2["actions_remote_cached"] == 4 and s2["actions_executed"] == 0, p.stderr
    assert bundle(a) == bundle(b)


def test_second_build_after_remote_execution_is_a_noop_without_fetching(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    env = {**env, **farm.env}
    s, _ = build(a, env, "--remote-executor", farm.url)
    assert s["actions_remote_executed"] == 4
    cas = Path(env["PPM_CACHE_DIR"]) / "store" / "cas"

    def local_blobs() -> set[str]:
        return {p.name for p in cas.rglob("*") if p.is_file()}

    def materialized() -> dict[str, bool]:
        return {x["id"]: Path(next(iter(x["outputs"].values()))["path"]).exists() for x in s["actions"]}

    blobs, placed = local_blobs(), materialized()
    assert placed["mathx:link"] is False and placed["app:link"] is True
    # The no-op fast path answers, with the same options: nothing was downloaded for it.
    p = run_ppm("build", "--json", "--remote-executor", farm.url, cwd=a, env=env)
    again = json.loads(p.stdout)
    assert again.get("fast_path") is True and again["actions_up_to_date"] == 4, p.stderr
    # The full path (--explain skips the fast path) agrees: up to date from the record, the
    # remote outputs still remote, and nothing fetched; without any remote as well.
    for args in (["--remote-executor", farm.url, "--explain"], ["--explain"]):
        full, p = build(a, env, *args)
        assert full["actions_up_to_date"] == 4 and full["actions_remote_cached"] == 0, p.stderr
        assert not full.get("fast_path")
        assert local_blobs() == blobs and materialized() == placed
    # A change reruns what it reaches, remotely; the untouched library is not fetched for it.
    (a / "app/src/main.c").write_text((a / "app/src/main.c").read_text().replace("2, 3", "2, 4"))
    s3, p = build(a, env, "--remote-executor", farm.url)
    assert s3["actions_remote_executed"] == 2 and s3["actions_up_to_date"] == 2, p.stderr
    assert materialized()["mathx:link"] is False
    (exe,) = (a / "dist").glob("*/app")
    assert subprocess.run(["env", "-i", str(exe)], capture_output=True, text=True, check=True).stdout == "6\n"
    # Without the remote, a change whose action reads the library's remote-held outputs builds
    # the library here (and its own remote-held needs) rather than failing.
    (a / "app/src/main.c").write_text((a / "app/src/main.c").read_text().replace("2, 4", "2, 5"))
    s4, p = build(a, env)
    assert "building mathx:link here" in p.stderr, p.stderr
    assert s4["actions_remote_executed"] == 0 and materialized()["mathx:link"] is True, p.stderr
    assert subprocess.run(["env", "-i", str(exe)], capture_output=True, text=True, check=True).stdout == "7\n"


def test_unmatched_platform_waits_then_fails_naming_it(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    other = tmp_path / "othercc"
    other.write_text("#!/bin/sh\nexec cc \"$@\"\n")
    other.chmod(0o755)
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    _, p = build(a, {**env, **farm.env, "CC": str(other), "PPM_REMOTE_QUEUE_TIMEOUT": "4"},
                 "--remote-executor", farm.url, check=False)
    assert p.returncode == 1
    assert "no worker offers the platform it needs" in p.stderr and "ppm-toolchain=cc=" in p.stderr, p.stderr


def test_unreachable_executor_fails_unless_fallback(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    url = f"grpc://127.0.0.1:{free_port()}"
    _, p = build(a, {**env, **farm.env}, "--remote-executor", url, check=False)
    assert p.returncode == 1 and "remote execution failed" in p.stderr and "--remote-fallback local" in p.stderr
    s, p = build(a, {**env, **farm.env}, "--remote-executor", url, "--remote-fallback", "local")
    assert s["actions_executed"] == 4 and s["actions_remote_executed"] == 0
    assert p.stderr.count("warning:") == 1


def start_build(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ppm", "build", "--json", *args], cwd=root,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(what: str, cond, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finish(p: subprocess.Popen[str], timeout: float = 240) -> dict:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_worker_killed_mid_action_the_other_worker_completes_it(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    before = [farm.log(i).count("started") for i in range(2)]
    p = start_build(a, {**env, **farm.env}, "--remote-executor", farm.url, "-j1")
    wait_for("a lease to start", lambda: any(farm.log(i).count("started") > before[i] for i in range(2)))
    victim = next(i for i in range(2) if farm.log(i).count("started") > before[i])
    os.killpg(farm.workers[victim].pid, signal.SIGKILL)  # the worker and the compiler it runs
    farm.workers[victim].wait()
    try:
        s = finish(p)
    finally:
        connected = farm.log(victim).count("connected to")
        farm.start_worker(victim)
        farm.wait_connected(victim, after=connected)
    assert s["actions_remote_executed"] == 4 and s["actions_executed"] == 4
    (exe,) = (a / "dist").glob("*/app")
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout == "5\n"


@pytest.mark.slow
def test_server_restarted_mid_build(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
    before = [farm.log(i).count("started") for i in range(2)]
    connected = [farm.log(i).count("connected to") for i in range(2)]
    p = start_build(a, {**env, **farm.env}, "--remote-executor", farm.url, "-j2")
    wait_for("a lease to start", lambda: any(farm.log(i).count("started") > before[i] for i in range(2)))
    farm.server.stop()
    time.sleep(1)
    farm.server.start()
    s = finish(p)
    assert s["actions_remote_executed"] == 4 and s["actions_executed"] == 4
    for i in range(2):  # both bots found the new server by themselves
        farm.wait_connected(i, after=connected[i])


def test_lease_leaving_its_directory_is_refused(farm: Farm, tmp_path: Path) -> None:
    """Leases crafted by hand (ppm itself never makes them) and stored on the real server."""
    from ppm.remote.digest import Digest
    from ppm.remote.mapping import RUNNER, pb_digest
    from ppm.remote.protos import bots_pb2
    from ppm.remote.protos import remote_execution_pb2 as re_pb2
    from ppm.remote.worker import LeaseRefused, Worker

    worker = Worker(farm.url, platform=[], work_dir=tmp_path / "w")
    client = worker.client

    def put(msg) -> re_pb2.Digest:  # type: ignore[no-untyped-def]
        data = msg.SerializeToString(deterministic=True)
        d = Digest.of(data)
        client.upload({d: data})
        return pb_digest(d)

    blob = b"int x;\n"
    bd = Digest.of(blob)
    client.upload({bd: blob})

    def lease(outputs: list[str], tree: re_pb2.Directory, argv: tuple[str, ...] = RUNNER) -> bots_pb2.Lease:
        command = re_pb2.Command(arguments=list(argv), output_paths=outputs)
        action = re_pb2.Action(command_digest=put(command), input_root_digest=put(tree))
        pl = bots_pb2.Lease(id=uuid.uuid4().hex)
        pl.payload.Pack(action)
        return pl

    plain = re_pb2.Directory(files=[re_pb2.FileNode(name="a.c", digest=pb_digest(bd))])
    evil_dir = re_pb2.Directory(directories=[re_pb2.DirectoryNode(name="..", digest=put(plain))])
    cases = {
        "output path": lease(["../../escaped"], plain),
        "absolute output": lease(["/tmp/escaped"], plain),
        "input tree name": lease(["out/x"], re_pb2.Directory(files=[re_pb2.FileNode(name="../escaped", digest=pb_digest(bd))])),
        "parent directory node": lease(["out/x"], evil_dir),
        "not ppm's runner": lease(["out/x"], plain, ("/bin/sh", "-c", "touch /tmp/pwned")),
    }
    for what, pl in cases.items():
        with pytest.raises(LeaseRefused):
            worker.execute(pl, tmp_path / "w" / what.replace(" ", "-"))
        assert not (tmp_path / "escaped").exists() and not (tmp_path / "w" / "escaped").exists(), what
    worker.client.close()


@pytest.mark.slow
def test_run_farm_script_serves_a_build_and_stops_cleanly(tmp_path: Path, ppm_cache: Path) -> None:
    """ci/remote/run-farm.sh as a user runs it: PostgreSQL, BuildGrid and one worker on 127.0.0.1."""
    for why in (missing_buildgrid(), missing_postgres()):
        if why:
            pytest.skip(why)
    script = Path(__file__).resolve().parent.parent / "ci" / "remote" / "run-farm.sh"
    port = free_port()
    ppm = Path(sys.executable).with_name("ppm")
    # Its default state directory (under /tmp, reachable by the postgres user; pytest's is not).
    farm = subprocess.Popen([str(script), "--workers", "1", "--port", str(port)],
                            env={**os.environ, "PPM": str(ppm)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert farm.stdout is not None
        line = farm.stdout.readline()
        assert line.startswith("ready: grpc://127.0.0.1:"), line + farm.stdout.read()
        a, env = checkout(tmp_path, "a", uuid.uuid4().hex)
        s, p = build(a, env, "--remote-executor", f"grpc://127.0.0.1:{port}")
        assert s["actions_remote_executed"] == 4, p.stderr
    finally:
        farm.send_signal(signal.SIGTERM)
        out, _ = farm.communicate(timeout=60)
    assert "stopped" in out
    state = line.rsplit("state and logs in ", 1)[-1].rstrip(")\n")
    if state.startswith("/tmp/ppm-farm."):
        shutil.rmtree(state, ignore_errors=True)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.slow
def test_host_only_builder_goes_to_a_worker_of_the_target_platform(farm: Farm, tmp_path: Path, ppm_cache: Path) -> None:
    """A PyInstaller component built for linux-x86_64 and linux-aarch64 with --remote-executor: the
    aarch64 action carries OSFamily=linux, ISA=aarch64 and is run by the one worker that offers
    ISA=aarch64 (`ppm worker --platform ISA=aarch64`).

    What this proves: planning, the action's REAPI platform and the server's routing by it. What
    it does not: there is no aarch64 machine here, so that worker is this x86-64 machine claiming
    an extra ISA, and the "linux-aarch64" bundle it returns is an x86-64 executable. On a real
    aarch64 worker the same action would freeze an aarch64 Python, whose pinned toolchain
    identities differ from this machine's (see docs/remote.md: the action names this machine's)."""
    from ppm import targets, toolchains

    if targets.host().name != "linux-x86_64":
        pytest.skip("the test names linux-x86_64 as the machine's own target")
    tc = toolchains.resolve(["pyinstaller"], provision=False)["pyinstaller"]
    if not tc.usable:
        pytest.skip(f"pyinstaller is not provisioned: {tc.note}")
    root = tmp_path / "plat"
    (root / "app").mkdir(parents=True)
    (root / "app/main.py").write_text(f"print('hello from {uuid.uuid4().hex}')\n")
    (root / "ppm.toml").write_text(textwrap.dedent("""\
        [project]
        name = "plat"
        version = "0.1.0"
        entry = "app"
        targets = ["linux-x86_64", "linux-aarch64"]

        [components.app]
        builder = "pyinstaller"
        path = "app"
        """))
    env = {**farm.env, "PPM_CACHE_DIR": str(tmp_path / "cache"), "PPM_OFFLINE": "1"}
    i = len(farm.workers)
    worker = farm.start_worker(i, "--platform", "ISA=aarch64")
    try:
        farm.wait_connected(i)
        s, p = build(root, env, "--remote-executor", farm.url)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        farm.workers.pop()
    assert "not built" not in p.stderr, p.stderr
    assert set(s["bundles"]) == {"linux-x86_64", "linux-aarch64"}, p.stderr
    arm = [a for a in s["actions"] if a["id"].startswith("linux-aarch64/")]
    assert arm and all(a["status"] == "ran" and a["remote"] for a in arm), arm
    # Which worker ran each aarch64 action, and what platform it carried, from the server itself:
    # the action digest follows from the ingredients the record keeps (ppm.remote.mapping).
    from ppm.build.store import ActionRef
    from ppm.remote.cache import remote_action
    from ppm.remote.reapi import ReapiClient

    recorded = json.loads((root / ".ppm/actions.json").read_text())["actions"]
    client = ReapiClient(farm.url)
    try:
        for a in s["actions"]:
            ing = recorded[a["id"]]["ingredients"]
            ra = remote_action(ActionRef(a["key"], a["id"], ing, root))
            props = {(x.name, x.value) for x in ra.action.platform.properties}
            result = client.get_action_result(ra.digest)
            assert result is not None, a["id"]
            ran_on = result.execution_metadata.worker
            if a["id"].startswith("linux-aarch64/"):
                assert {("ISA", "aarch64"), ("OSFamily", "linux")} <= props and ("ISA", "x86-64") not in props
                assert ran_on.endswith(f"-{worker.pid}"), (ran_on, worker.pid)
            else:
                assert ("ISA", "x86-64") in props and ("ISA", "aarch64") not in props
    finally:
        client.close()
    exe = root / "dist/linux-aarch64/app"
    assert "hello from" in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout  # x86-64 in truth: see above
    # With the same executor, the next build is a no-op; without one, the full path names what
    # this machine cannot build, in one line, and keeps the rest.
    again, p = build(root, env, "--remote-executor", farm.url)
    assert again.get("fast_path") is True, p.stderr
    s2, p = build(root, {**env, "PPM_REMOTE_EXECUTOR": ""})
    notes = [line for line in p.stderr.splitlines() if line.startswith("note: not built:")]
    assert len(notes) == 1 and "linux-aarch64" in notes[0] and "worker of that platform" in notes[0], p.stderr
    assert set(s2["bundles"]) == {"linux-x86_64"}
