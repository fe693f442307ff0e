"""A real Alertmanager (Debian's prometheus-alertmanager) on a free loopback port, stopped by its PID."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from citadel.config import CitadelSettings
from citadel.ops.render.assets import write_files
from citadel.ops.render.prometheus import render_prometheus
from tests.helpers import free_port
from tests.ops.tools import tool


class AlertmanagerServer:
    def __init__(self, directory: Path) -> None:
        write_files(render_prometheus(CitadelSettings()), directory)  # the rendered alertmanager.yml
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "alertmanager.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    tool("prometheus-alertmanager"),
                    f"--config.file={directory / 'alertmanager.yml'}",
                    f"--storage.path={directory / 'alertmanager-data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"alertmanager not ready: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
