"""`ppm worker`: a Remote Workers API bot (Bots service: CreateBotSession, UpdateBotSession).

The server hands out leases whose payload is an Action (or its digest). For each, the bot
fetches the Action, its Command and its input tree from the CAS (every blob verified), refuses
anything whose names or output paths would leave the lease's directory, writes the tree into a
fresh directory, runs the Command (`ppm worker exec …`: only ppm's own runner is accepted) in a
clean environment, uploads the outputs, and completes the lease with the ActionResult.

Per lease the bot costs little beyond the action's own commands: the runner runs in this
process (a thread per lease; each command still a subprocess with a clean environment in the
lease's directory), toolchains are resolved once per process, blobs already fetched (Directory
messages, small files: verified when they arrived, kept in this process's memory) are not asked
for again, and small outputs go up in one BatchUpdateBlobs without a FindMissingBlobs first.

It advertises its platform (OSFamily, ISA, one `ppm-toolchain` value per toolchain it has or
can provision, and any --platform key=value) and a capacity of --jobs leases. When the server
goes away it reconnects with backoff (a new session); on SIGTERM it stops taking work, ends what
runs, says BOT_TERMINATING and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from ppm import toolchains
from ppm.core.errors import ActionFailed, ToolchainError
from ppm.core.fsutil import sha256_file
from ppm.remote import retry
from ppm.remote.backend import RemoteUnavailable
from ppm.remote.config import headers_from_env
from ppm.remote.digest import Digest
from ppm.remote.mapping import RUNNER, UnsafePath, check_relpath, from_pb, pb_digest
from ppm.remote.platform import TOOL_KEY, host_platform
from ppm.remote.protos import bots_pb2, bots_pb2_grpc, status_pb2
from ppm.remote.protos import remote_execution_pb2 as re_pb2
from ppm.remote.reapi import ReapiClient
from ppm.remote.runner import Runner, ToolchainCache, exec_action

log = logging.getLogger("ppm.worker")
POLL = 6.0  # UpdateBotSession's deadline: the server long-polls for 80% of it (at least 3 s)
FULL_SYNC = 0.25  # seconds between full synchronizations of an idle session (see _loop)
HEARTBEAT = 3.0  # seconds between keep-alives while every slot is busy (the server's timeout is longer)
OUTPUT_TAIL = 64 << 10  # bytes of a failed action's output returned inline
MANY_PROPERTIES = 10  # 2^10 subsets: the default offer of a machine with every found toolchain stays below it
BLOB_CACHE = 256 << 20  # bytes of verified input blobs kept in memory between leases
BLOB_CACHE_ITEM = 1 << 20  # bigger blobs are fetched for every lease that needs them
_INVALID_ARGUMENT, _FAILED_PRECONDITION, _INTERNAL = 3, 9, 13


class LeaseRefused(Exception):
    """A lease this worker will not run: the message says why (it becomes the lease's status)."""


def worker_platform(extra: list[tuple[str, str]] | None = None, only: list[str] | None = None) -> list[tuple[str, str]]:
    """What this machine offers: OS, ISA, and every toolchain found usable here (or only those
    named in `only`: see `ppm worker --toolchain`). Toolchains ppm provisions are never offered:
    actions do not ask for them as properties (ppm.build.platform); a lease provisions them."""
    if only:
        unknown = sorted(set(only) - set(toolchains.KNOWN))
        if unknown:
            raise ToolchainError(f"--toolchain {', '.join(unknown)}: ppm knows {', '.join(toolchains.KNOWN)}")
    props = list(host_platform())
    for tc in toolchains.resolve(only or toolchains.KNOWN, provision=False).values():
        if tc.identity and tc.usable and tc.name not in toolchains.PROVISIONED:
            props.append((TOOL_KEY, f"{tc.name}={tc.identity}"))
    return sorted({*props, *(extra or [])})


class BlobCache:
    """Verified blobs kept in memory between leases (LRU, bounded in bytes). Only what
    `ReapiClient.read` returned goes in, and it verified each against its digest; what is
    kept is immutable bytes in this process, out of the actions' reach."""

    def __init__(self, limit: int = BLOB_CACHE) -> None:
        self.limit = limit
        self.size = 0
        self._blobs: OrderedDict[Digest, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, d: Digest) -> bytes | None:
        with self._lock:
            data = self._blobs.get(d)
            if data is not None:
                self._blobs.move_to_end(d)
            return data

    def put(self, d: Digest, data: bytes) -> None:
        if len(data) > BLOB_CACHE_ITEM:
            return
        with self._lock:
            if d in self._blobs:
                return
            self._blobs[d] = data
            self.size += len(data)
            while self.size > self.limit:
                _, old = self._blobs.popitem(last=False)
                self.size -= len(old)


@dataclass
class Lease:
    id: str
    thread: threading.Thread | None = None
    proc: subprocess.Popen | None = None  # the command the lease runs now
    result: re_pb2.ActionResult | None = None
    status: status_pb2.Status = field(default_factory=status_pb2.Status)
    done: bool = False
    cancelled: bool = False


class Worker:
    def __init__(self, url: str, *, jobs: int = 1, platform: list[tuple[str, str]] | None = None,
                 work_dir: Path, headers: tuple[tuple[str, str], ...] = (), bot_id: str | None = None) -> None:
        self.client = ReapiClient(url, headers=headers, policy=retry.RetryPolicy(attempts=3, timeout=60))
        self.bots = bots_pb2_grpc.BotsStub(self.client.channel)
        self.jobs = max(1, jobs)
        self.platform = platform if platform is not None else worker_platform()
        self.work_dir = work_dir
        self.bot_id = bot_id or f"ppm-{socket.gethostname()}-{os.getpid()}"
        self.stop = threading.Event()
        self.changed = threading.Event()  # a lease finished: tell the server now, not at the next poll
        self.wake = threading.Event()  # the poll answered, a lease finished, or stop: look now
        self.leases: dict[str, Lease] = {}
        self.lock = threading.Lock()
        self.blobs = BlobCache()
        self.toolchains = ToolchainCache()

    # -- the session ------------------------------------------------------------------------
    def _session(self, status: int = bots_pb2.OK) -> bots_pb2.BotSession:
        device = bots_pb2.Device(handle=self.bot_id,
                                 properties=[bots_pb2.Device.Property(key=k, value=v) for k, v in self.platform])
        worker = bots_pb2.Worker(devices=[device], configs=[bots_pb2.Worker.Config(key="capacity", value=str(self.jobs))],
                                 properties=[bots_pb2.Worker.Property(key=k, value=v) for k, v in self.platform])
        return bots_pb2.BotSession(bot_id=self.bot_id, status=status, worker=worker)

    def serve(self) -> int:
        """Take leases until SIGTERM/SIGINT (or `stop`); reconnect whenever the server goes away."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        delay = 0.5
        while not self.stop.is_set():
            try:
                session = self.bots.CreateBotSession(
                    bots_pb2.CreateBotSessionRequest(parent=self.client.instance, bot_session=self._session()),
                    timeout=30, metadata=self.client.metadata)
                log.info("connected to %s as %s (%s)", self.client.url, session.name, self.bot_id)
                delay = 0.5
                self._loop(session)
            except grpc.RpcError as e:
                if self.stop.is_set():
                    break
                log.warning("server %s: %s: %s; reconnecting in %.1fs", self.client.url, e.code().name, e.details(), delay)
                self._abandon_all()
                self.stop.wait(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 10.0)
        self._abandon_all()
        return 0

    def _loop(self, session: bots_pb2.BotSession) -> None:
        last_full = time.monotonic()
        while not self.stop.is_set():
            idle = not self.leases
            if idle and time.monotonic() - last_full < FULL_SYNC:
                self.stop.wait(FULL_SYNC - (time.monotonic() - last_full))
            if idle:
                # BuildGrid 0.4.4 answers a session whose version it already has with the leases the
                # bot sent, and a job assigned in a race with a poll can be left undelivered under
                # an unchanged version. An idle bot that sends no version now and then makes the
                # server synchronize in full (it then answers at once instead of long-polling).
                session.version = ""
                last_full = time.monotonic()
            with self.lock:
                reported = [lid for lid, lease in self.leases.items() if lease.done]
                session.ClearField("leases")
                for lid, lease in self.leases.items():
                    if lease.cancelled:
                        continue
                    pl = session.leases.add(id=lid, state=bots_pb2.COMPLETED if lease.done else bots_pb2.ACTIVE)
                    if lease.done:
                        pl.status.CopyFrom(lease.status)
                        if lease.result is not None:
                            pl.result.Pack(lease.result)
                self.changed.clear()
            self.wake.clear()
            call = self.bots.UpdateBotSession.future(
                bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
                timeout=POLL, metadata=self.client.metadata)
            # Woken the moment the answer arrives (the next lease starts without a polling
            # delay) or a lease finishes; the timeout only bounds a missed wake-up.
            call.add_done_callback(lambda _call: self.wake.set())
            while not call.done() and not self.changed.is_set() and not self.stop.is_set():
                self.wake.wait(0.5)
            if not call.done():
                log.debug("cancel poll: changed=%s", self.changed.is_set())
                call.cancel()  # a lease finished: report it now (the server keeps what it assigned)
                with contextlib.suppress(grpc.FutureCancelledError, grpc.RpcError):
                    call.result()
                if self.stop.is_set():
                    break
                continue
            try:
                session = call.result()
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                    continue
                if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # The server is busy, not gone: keep the session and the leases, ask again.
                    log.warning("server %s is busy (%s); asking again", self.client.url, e.details())
                    self.stop.wait(random.uniform(0.5, 2.0))
                    continue
                raise
            log.debug("session v%s: %s", session.version, [(pl.id[:8], pl.state) for pl in session.leases])
            with self.lock:
                for lid in reported:  # the server has the results now
                    self.leases.pop(lid, None)
                offered = {pl.id: pl for pl in session.leases}
                for lid, lease in list(self.leases.items()):
                    if lid not in offered and not lease.done:
                        self._cancel(lease)  # the server took it back
                for pl in session.leases:
                    if pl.id not in self.leases and pl.state in (bots_pb2.PENDING, bots_pb2.ACTIVE):
                        lease = Lease(pl.id)
                        lease.thread = threading.Thread(target=self._run_lease, args=(lease, pl), daemon=True,
                                                        name=f"lease-{pl.id[:8]}")
                        self.leases[pl.id] = lease
                        lease.thread.start()
                busy = sum(1 for lease in self.leases.values() if not lease.done) >= self.jobs
            if busy:
                # At capacity the server answers at once: a heartbeat every few seconds is enough,
                # and a finished lease is reported the moment it finishes.
                self.changed.wait(HEARTBEAT)
        # Stopping: say so, with what finished.
        with contextlib.suppress(grpc.RpcError):
            bye = self._session(bots_pb2.BOT_TERMINATING)
            bye.name = session.name
            self.bots.UpdateBotSession(bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=bye),
                                       timeout=5, metadata=self.client.metadata)

    def _cancel(self, lease: Lease) -> None:
        lease.cancelled = True
        if lease.proc is not None and lease.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(lease.proc.pid, signal.SIGKILL)

    def _abandon_all(self) -> None:
        with self.lock:
            for lease in self.leases.values():
                self._cancel(lease)
            self.leases.clear()

    # -- one lease --------------------------------------------------------------------------
    def _run_lease(self, lease: Lease, pl: bots_pb2.Lease) -> None:
        lease_dir = self.work_dir / f"lease-{uuid.uuid4().hex[:16]}"
        t0 = time.monotonic()
        log.info("lease %s: started", pl.id)
        try:
            lease.result = self.execute(pl, lease_dir, lease)
            log.info("lease %s: exit %d in %.2fs", pl.id, lease.result.exit_code, time.monotonic() - t0)
            if lease.result.exit_code:
                log.info("  %s", lease.result.stdout_raw.decode(errors="replace").strip().replace("\n", "\n  "))
        except LeaseRefused as e:
            log.warning("lease %s refused: %s", pl.id, e)
            lease.status = status_pb2.Status(code=_INVALID_ARGUMENT, message=f"ppm worker {self.bot_id}: {e}")
        except (RemoteUnavailable, grpc.RpcError, OSError) as e:
            log.warning("lease %s failed: %s", pl.id, e)
            lease.status = status_pb2.Status(code=_INTERNAL, message=f"ppm worker {self.bot_id}: {e}")
        except Exception as e:  # noqa: BLE001 - the runner is in this process now: a bug fails the lease, not the bot
            log.exception("lease %s: internal error", pl.id)
            lease.status = status_pb2.Status(code=_INTERNAL, message=f"ppm worker {self.bot_id}: internal error: {e!r}")
        finally:
            shutil.rmtree(lease_dir, ignore_errors=True)
            lease.done = True
            self.changed.set()
            self.wake.set()

    def read(self, digests: list[Digest]) -> dict[Digest, bytes]:
        """Blobs from the memory cache, the rest in batches from the server (verified there)."""
        out: dict[Digest, bytes] = {}
        want: list[Digest] = []
        for d in dict.fromkeys(digests):
            data = self.blobs.get(d)
            if data is None:
                want.append(d)
            else:
                out[d] = data
        if want:
            got = self.client.read(want)
            for d, data in got.items():
                self.blobs.put(d, data)
            out.update(got)
        return out

    def execute(self, pl: bots_pb2.Lease, lease_dir: Path, lease: Lease | None = None) -> re_pb2.ActionResult:
        t0 = time.monotonic()
        action = self._action_of(pl)
        command_digest, root_digest = from_pb(action.command_digest), from_pb(action.input_root_digest)
        first = self.read([command_digest, root_digest])  # one round trip for both
        command = re_pb2.Command()
        command.ParseFromString(first[command_digest])
        if tuple(command.arguments) != RUNNER:
            raise LeaseRefused(f"only ppm actions run here (`{' '.join(RUNNER)}`), not {list(command.arguments)[:3]}")
        outputs = list(dict.fromkeys([*command.output_paths, *command.output_files]))
        for path in outputs:
            try:
                check_relpath(path)
            except UnsafePath as e:
                raise LeaseRefused(f"output path {e}") from None
        root = lease_dir / "root"
        root.mkdir(parents=True)
        self._materialize(root_digest, root)

        # The runner is ppm's own (runner.py), in this process: it finds toolchains as this
        # worker did when it advertised them (CC, GRAALVM_HOME, PPM_TOOLCHAINS_DIR …) and gives
        # the action's commands a clean environment.
        def track(proc: subprocess.Popen | None) -> None:
            if lease is None:
                return
            lease.proc = proc
            if proc is not None and lease.cancelled:
                self._cancel(lease)

        runner = Runner(capture=True, track=track, toolchains=self.toolchains)
        t1 = time.monotonic()
        try:
            rc = exec_action(root, command.arguments[-1], runner)
        except (ActionFailed, ToolchainError, UnsafePath, KeyError, ValueError, TypeError) as e:
            # What the old runner process said before exiting 1; a malformed .ppm-action.json
            # (KeyError, TypeError …) fails its action, not the worker.
            runner.say(f"ppm worker: {e}\n")
            rc = 1
        t2 = time.monotonic()
        result = re_pb2.ActionResult(exit_code=rc)
        result.stdout_raw = bytes(runner.output[-OUTPUT_TAIL:])
        result.execution_metadata.worker = self.bot_id
        if rc != 0:
            return result
        blobs: dict[Digest, Path | bytes] = {}
        for path in outputs:
            f = root / path
            if f.is_symlink() or not f.is_file() or not f.resolve().is_relative_to(root.resolve()):
                result.exit_code = 1
                result.stdout_raw += f"\nppm worker: output {path} is missing or not a regular file\n".encode()
                return result
            d = Digest(_sha256(f), f.stat().st_size)
            blobs[d] = f
            result.output_files.add(path=path, digest=pb_digest(d), is_executable=os.access(f, os.X_OK))
        if sum(d.size for d in blobs) <= self.client.batch_limit():
            # One BatchUpdateBlobs: writing a blob the server has is harmless, and cheaper
            # than asking first (FindMissingBlobs is a round trip of its own).
            self.client.upload(blobs)
        else:
            missing = self.client.find_missing(list(blobs))
            self.client.upload({d: p for d, p in blobs.items() if d in missing})
        log.debug("lease %s: inputs %.0f ms, run %.0f ms, outputs %.0f ms", pl.id[:8], (t1 - t0) * 1000,
                  (t2 - t1) * 1000, (time.monotonic() - t2) * 1000)
        return result

    def _action_of(self, pl: bots_pb2.Lease) -> re_pb2.Action:
        action = re_pb2.Action()
        if pl.payload.Is(re_pb2.Action.DESCRIPTOR):
            pl.payload.Unpack(action)
            return action
        digest = re_pb2.Digest()
        if not pl.payload.Unpack(digest):
            raise LeaseRefused(f"lease payload is a {pl.payload.TypeName()}, not an Action or its Digest")
        (data,) = self.read([from_pb(digest)]).values()
        action.ParseFromString(data)
        return action

    def _materialize(self, root_digest: Digest, dest: Path) -> None:
        """Write the input tree under `dest`: every Directory and file verified, every name one
        plain path component (no '..', no '/', no duplicates), symlinks refused."""
        dirs: list[tuple[Digest, Path]] = [(root_digest, dest)]
        files: dict[Digest, list[tuple[Path, bool]]] = {}
        seen = 0
        while dirs:
            blobs = self.read([d for d, _ in dirs])
            nxt: list[tuple[Digest, Path]] = []
            for d, where in dirs:
                msg = re_pb2.Directory()
                msg.ParseFromString(blobs[d])
                if msg.symlinks:
                    raise LeaseRefused(f"input tree holds symlinks ({msg.symlinks[0].name!r}); ppm sends none")
                names = [n.name for n in msg.files] + [n.name for n in msg.directories]
                for name in names:
                    if "/" in name or name in ("", ".", "..") or "\0" in name:
                        raise LeaseRefused(f"input tree name {name!r} would leave the lease's directory")
                if len(set(names)) != len(names):
                    raise LeaseRefused("input tree names a path twice")
                for n in msg.directories:
                    (where / n.name).mkdir()
                    nxt.append((from_pb(n.digest), where / n.name))
                for n in msg.files:
                    files.setdefault(from_pb(n.digest), []).append((where / n.name, n.is_executable))
                seen += 1
                if seen > 100_000:
                    raise LeaseRefused("input tree has more than 100000 directories")
            dirs = nxt
        digests = list(files)
        for i in range(0, len(digests), 256):
            chunk = digests[i:i + 256]
            for d, data in self.read(chunk).items():
                for path, executable in files[d]:
                    with open(path, "xb") as f:  # exclusive: never through an existing name
                        f.write(data)
                    os.chmod(path, 0o755 if executable else 0o644)


def _sha256(path: Path) -> str:
    return sha256_file(path)


def run(url: str, *, jobs: int, platform: list[tuple[str, str]], work_dir: Path, only: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the signal handlers only set the stop flag."""
    worker = Worker(url, jobs=jobs, platform=worker_platform(platform, only), work_dir=work_dir, headers=headers_from_env())
    log.info("offering %s", ", ".join(f"{k}={v.split('=')[0]}" if k == TOOL_KEY else f"{k}={v}" for k, v in worker.platform))
    if len(worker.platform) > MANY_PROPERTIES:
        log.warning("offering %d platform properties: BuildGrid matches a job against every subset of them "
                    "(2^%d), which costs its scheduler ~0.3 CPU-s per lease at 13; --toolchain NAME offers "
                    "only what this farm builds", len(worker.platform), len(worker.platform))

    def stop(signum: int, frame: object) -> None:
        worker.stop.set()
        worker.changed.set()
        worker.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    t0 = time.time()
    rc = worker.serve()
    log.info("stopped after %.0fs", time.time() - t0)
    return rc
