"""The rendered alertmanager.yml in a real Alertmanager: alerts reach the receiver for their severity, and a
model service that is down silences the alerts it causes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.config import CitadelSettings
from citadel.ops.render.assets import write_files
from citadel.ops.render.prometheus import render_prometheus
from tests.helpers import free_port
from tests.ops.tools import tool


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    write_files(render_prometheus(CitadelSettings()), tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                tool("prometheus-alertmanager"),
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: a single local instance
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not _ready(url):
                assert process.poll() is None, (tmp_path / "alertmanager.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "alertmanager not ready"
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alert(name: str, severity: str, model: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": severity, "model": model},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def test_alerts_route_by_severity_and_a_down_service_silences_its_consequences(alertmanager: str) -> None:
    sent = [
        _alert("CitadelModelServiceDown", "critical", "phi-3-mini"),
        _alert("CitadelModelUnhealthy", "critical", "phi-3-mini"),
        _alert("CitadelHighErrorRate", "high", "phi-3-mini"),
        _alert("CitadelCapacityPlanningCPU", "low", "phi-3-mini"),
        _alert("CitadelLatencyAboveTarget", "high", "hermes-2"),
        _alert("CitadelKVCachePressure", "medium", "hermes-2"),
    ]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=sent, timeout=10).status_code == 200
    received = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=10).json()
    status = {
        (alert["labels"]["alertname"], alert["labels"]["model"]): (
            alert["status"]["state"],
            [receiver["name"] for receiver in alert["receivers"]],
        )
        for alert in received
    }
    assert status == {
        ("CitadelModelServiceDown", "phi-3-mini"): ("active", ["pager-and-chat"]),
        ("CitadelModelUnhealthy", "phi-3-mini"): ("suppressed", ["pager-and-chat"]),
        ("CitadelHighErrorRate", "phi-3-mini"): ("suppressed", ["email-and-chat"]),
        ("CitadelCapacityPlanningCPU", "phi-3-mini"): ("active", ["dashboard"]),
        ("CitadelLatencyAboveTarget", "hermes-2"): ("active", ["email-and-chat"]),
        ("CitadelKVCachePressure", "hermes-2"): ("active", ["email"]),
    }
