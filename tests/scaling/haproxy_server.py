"""Debian's HAProxy on a config a test rendered, in the foreground, stopped by its PID."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.governance.servers import _stop, _wait_port


def haproxy_available() -> bool:
    return shutil.which("haproxy") is not None


class HaproxyServer:
    def __init__(self, config: Path, port: int, stats_port: int) -> None:
        self.config = config
        self.port = port
        self.stats_port = stats_port
        self.log = config.with_suffix(".log")
        check = subprocess.run(
            ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c refused the config:\n{check.stdout}{check.stderr}")
        with self.log.open("ab") as log:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(port, self.process, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server_states(self) -> dict[str, str]:
        """Each backend server's status from the stats page's CSV (``UP``, ``DOWN``, ...)."""
        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "citadel_gateways" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_states(self, expected: dict[str, str], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (states := self.server_states()) != expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy sees {states}, not {expected}")
            time.sleep(0.2)

    def close(self) -> None:
        _stop(self.process)
        self.process = None
