"""A real Prometheus process for a test, on a free loopback port, stopped by its PID."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port
from tests.ops.tools import tool


class PrometheusServer:
    def __init__(
        self, config: Path, data_dir: Path, *, port: int | None = None, timeout_s: float = 60.0
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / "prometheus.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for(
            lambda: httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200, timeout_s, "ready"
        )

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if condition():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus: {what} not within {timeout_s} s")
            time.sleep(0.5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant query's result vector; an error if Prometheus rejects the query."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def metric_names(self) -> set[str]:
        response = httpx.get(f"{self.url}/api/v1/label/__name__/values", timeout=10)
        return set(response.json()["data"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
