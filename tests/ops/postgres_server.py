"""A throwaway PostgreSQL cluster for a test: initdb in a temporary folder, the server on a free loopback
port, run as the ``postgres`` user (PostgreSQL refuses root), stopped by its PID and removed afterwards."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.helpers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_available() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return os.geteuid() == 0 and (BIN / "initdb").is_file() and shutil.which("setpriv") is not None


class PostgresCluster:
    def __init__(self, timeout_s: float = 60.0) -> None:
        owner = pwd.getpwnam("postgres")
        self.directory = Path(tempfile.mkdtemp(prefix="citadel-pg-"))
        os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        data = self.directory / "data"
        self._as_postgres(
            [str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        )
        self._log = (self.directory / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                *self._setpriv(),
                str(BIN / "postgres"),
                "-D", str(data),
                "-p", str(self.port),
                "-k", str(self.directory),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while self.psql("postgres", "select 1").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.3)

    @staticmethod
    def _setpriv() -> list[str]:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run([*self._setpriv(), *argv], check=True, capture_output=True, timeout=120)

    def psql(self, database: str, sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "psql"), f"{self.url}/{database}", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # PostgreSQL's "smart" shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
