"""``citadel up`` can be started again right after it was stopped: the previous instance's connections in
TIME_WAIT on the gateway's and the model service's ports do not fail its pre-start port check."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config

pytestmark = pytest.mark.e2e


HI = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _serve_some(url: str) -> None:
    with httpx.Client(base_url=url, trust_env=False, timeout=60) as client:  # one kept-alive connection
        for _ in range(3):
            response = client.post("/v1/chat/completions", json=HI)
            assert response.status_code == 200, response.text


def _wait_for_line(log: Path, line: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in log.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"{line!r} not in {log} within {timeout_s:.0f} s"
        time.sleep(0.1)


def test_up_starts_again_at_once_after_a_stop(tmp_path: Path) -> None:
    gateway_port = free_port()
    config = write_config(
        tmp_path,
        {"gateway": {"port": gateway_port, "health_interval_s": 0.5}, "models": [smollm2_model(free_port())]},
    )
    url = f"http://127.0.0.1:{gateway_port}"
    for run in ("first", "second"):
        log = tmp_path / f"up-{run}.log"
        stack = ServiceProcess(["up", "--config", str(config)], f"{url}/health", log=log)
        try:
            _serve_some(url)
            # The gateway answers a moment before the supervisor's own probe sees it: a stop before that is
            # an interrupted start-up (exit 130), not the stop of a running stack that this test is about.
            _wait_for_line(log, "Citadel is up.")
            os.kill(stack.process.pid, signal.SIGTERM)
            assert stack.process.wait(timeout=30) == 0
        finally:
            stack.stop()
        text = log.read_text(encoding="utf-8")
        assert "already in use" not in text
        assert "Citadel stopped." in text
