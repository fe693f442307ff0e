"""Real PostgreSQL, Pgpool-II and Redis servers for the governance tests, on free loopback ports.

PostgreSQL refuses to run as root, so when the tests run as root its processes run as the ``postgres`` system
user (``subprocess``'s ``user=``, so the PID we hold is the server's own) in a private folder under /tmp that
the user owns; as any other user they simply run as that user.
Everything is stopped by PID.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.helpers import free_port


def _postgres_bin() -> Path:
    """The newest Debian PostgreSQL's binaries (``postgresql`` package)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: bash scripts/bootstrap.sh --dev")
    return found[-1].parent


_RUN_AS = "postgres"


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Owned:
    """A private folder the server's user owns."""

    def __init__(self, prefix: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.as_root = os.geteuid() == 0
        if self.as_root:  # PostgreSQL refuses root: its servers run as the postgres user
            user = pwd.getpwnam(_RUN_AS)
            self.uid, self.gid = user.pw_uid, user.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.chown(self.root)

    def chown(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def run_as(self) -> dict[str, Any]:
        """``subprocess`` arguments that start a server as the owning user (nothing when we are not root)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []} if self.as_root else {}

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _sql(port: int, statement: str, database: str = "postgres") -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            database,
            "-qAt",
            "-c",
            statement,
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


class PostgresServer:
    """``initdb`` once, then ``start``/``stop`` as often as a test needs (same data, same port)."""

    def __init__(self) -> None:
        self._home = _Owned("citadel-pg-")
        self.port = free_port()
        self.data = self._home.root / "data"
        self.log = self._home.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **self._home.run_as(),
            cwd=self._home.root,
            timeout=120,
        )
        self.start()
        _sql(self.port, "CREATE DATABASE citadel")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/citadel"

    def start(self) -> None:
        settings = ["listen_addresses=127.0.0.1", f"unix_socket_directories={self._home.root}", "fsync=off"]
        settings += ["synchronous_commit=off", "full_page_writes=off", "max_connections=100"]
        argv = [str(_postgres_bin() / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for setting in settings:
            argv += ["-c", setting]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._home.run_as(),
                cwd=self._home.root,
                start_new_session=True,
            )
        _wait_port(self.port, self.process, self.log)
        self._wait_accepting()

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True, timeout=30
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("postgres did not accept connections")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open connections are cut, as in an outage."""
        _stop(self.process, signal.SIGINT)
        self.process = None

    def close(self) -> None:
        self.stop()
        self._home.cleanup()


class PgpoolServer:
    """Pgpool-II in front of one PostgreSQL (raw mode, connection cache on; no failover, no health checks)."""

    def __init__(self, postgres: PostgresServer) -> None:
        self._home = _Owned("citadel-pgpool-")
        self.port = free_port()
        self.log = self._home.root / "pgpool.log"
        root = self._home.root
        conf = {
            "backend_clustering_mode": "'raw'",
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{root}'",
            "pcp_listen_addresses": "''",
            "pcp_port": str(free_port()),
            "pcp_socket_dir": f"'{root}'",
            "backend_hostname0": "'127.0.0.1'",
            "backend_port0": str(postgres.port),
            "backend_weight0": "1",
            "backend_flag0": "'DISALLOW_TO_FAILOVER'",
            "enable_pool_hba": "off",
            "num_init_children": "16",
            "max_pool": "2",
            "connection_cache": "on",
            "load_balance_mode": "off",
            "health_check_period": "0",
            "sr_check_period": "0",
            "failover_on_backend_error": "off",
            "logdir": f"'{root}'",
            "pid_file_name": f"'{root}/pgpool.pid'",
            "ssl": "off",
        }
        (root / "pgpool.conf").write_text("".join(f"{key} = {value}\n" for key, value in conf.items()))
        (root / "pcp.conf").write_text("")
        (root / "pool_hba.conf").write_text("")
        for name in ("pgpool.conf", "pcp.conf", "pool_hba.conf"):
            self._home.chown(root / name)
        argv = ["pgpool", "-n", "-D", "-f", str(root / "pgpool.conf"), "-F", str(root / "pcp.conf")]
        argv += ["-a", str(root / "pool_hba.conf")]
        with self.log.open("ab") as log:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._home.run_as(),
                cwd=root,
                start_new_session=True,
            )
        _wait_port(self.port, self.process, self.log)
        self.database = "citadel"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def close(self) -> None:
        _stop(self.process, signal.SIGINT)
        self.process = None
        self._home.cleanup()


class RedisServer:
    def __init__(self, *options: str) -> None:
        """``options``: more ``redis-server`` arguments, e.g. ``"--requirepass", "secret"``."""
        self.directory = Path(tempfile.mkdtemp(prefix="citadel-redis-"))
        self.port = free_port()
        self.log = self.directory / "redis.log"
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no", *options]
        with self.log.open("ab") as log:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_port(self.port, self.process, self.log)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        _stop(self.process)
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


def create_database(port: int, name: str) -> None:
    _sql(port, f"CREATE DATABASE {name}")
