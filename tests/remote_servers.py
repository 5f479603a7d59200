"""Real remote-build servers on 127.0.0.1 for the tests: BuildGrid (cache only, or with
execution on PostgreSQL) and nginx with WebDAV as a Bazel HTTP cache.

Each server runs from binaries `.ci/needs-remote.sh` installs; when one is missing the test
that needs it is skipped with the reason. Servers write only under the directory they are given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BGD_VENV = Path(os.environ.get("PPM_BUILDGRID_VENV", "/opt/ppm-buildgrid"))
BGD = BGD_VENV / "bin" / "bgd"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DEPLOY = Path(__file__).resolve().parent.parent / "ci" / "remote"  # the deployment files the tests run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def missing_buildgrid() -> str | None:
    return None if BGD.exists() else f"BuildGrid is not installed at {BGD} (run .ci/needs-remote.sh)"


def missing_nginx() -> str | None:
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        return None
    return "nginx is not installed (run .ci/needs-remote.sh)"


def missing_postgres() -> str | None:
    return None if (PG_BIN / "initdb").exists() else f"PostgreSQL is not installed at {PG_BIN} (run .ci/needs-remote.sh)"


class BuildGrid:
    """`bgd server start` with a config written here; restartable on the same port and storage."""

    def __init__(self, root: Path, *, sql: str | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.log = root / "bgd.log"
        self.config = root / "bgd.yml"
        self.config.write_text(self._config(sql))

    def _config(self, sql: str | None) -> str:
        """The deployment config from ci/remote/, with this server's port, store and database."""
        template = (DEPLOY / ("bgd-execution.yml" if sql else "bgd-cache.yml")).read_text()
        return (template.replace("@LISTEN@", f"127.0.0.1:{self.port}").replace("@STORE@", str(self.root))
                .replace("@SQL@", sql or ""))

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(BGD), "server", "start", str(self.config)], cwd=self.root,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class Nginx:
    """nginx serving a WebDAV directory: Bazel's HTTP cache protocol (GET/HEAD/PUT)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/cache"
        self.conf = root / "nginx.conf"
        self.log = root / "error.log"
        self.proc: subprocess.Popen | None = None
        template = (DEPLOY / "nginx-bazel-cache.conf").read_text()
        self.conf.write_text(template.replace("@LISTEN@", f"127.0.0.1:{self.port}").replace("@STORE@", str(self.data))
                             .replace("@PREFIX@", str(root)))

    def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        with open(self.root / "nginx.out", "ab") as out:
            self.proc = subprocess.Popen([nginx, "-c", str(self.conf), "-p", str(self.root)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, self.proc, self.log if self.log.exists() else self.root / "nginx.out")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


class Postgres:
    """A throw-away PostgreSQL cluster on a free port, owned by the postgres user (initdb refuses
    root). Its data lives in its own directory under the system temp dir: pytest keeps its
    base temp dir private (0700), where the postgres user could not reach it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ppm-test-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/bgd"

    def _as_postgres(self, cmd: str) -> None:
        argv = ["su", "postgres", "-s", "/bin/sh", "-c", cmd] if os.geteuid() == 0 else ["/bin/sh", "-c", cmd]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres(f"{PG_BIN}/initdb -D {self.data} -A trust -U postgres >/dev/null")
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -l {self.root}/pg.log -w -o "
                          f"'-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null")
        self._as_postgres(f"{PG_BIN}/createdb -h 127.0.0.1 -p {self.port} -U postgres bgd")
        subprocess.run([str(BGD), "migrate", "apply", self.url], check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m immediate stop >/dev/null")
        shutil.rmtree(self.root, ignore_errors=True)
