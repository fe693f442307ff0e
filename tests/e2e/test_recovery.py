"""Recovery in seconds under ``citadel up``: a model service killed with SIGKILL is restarted by the
supervisor, and the gateway serves it again soon after it is healthy, long before its next regular health
probe (``health_interval_s`` is 30 here). The measured times are printed (run with ``-s`` to see them)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config

pytestmark = pytest.mark.e2e

HEALTH_INTERVAL_S = 30.0
# Well inside the interval: being served within it shows the gateway did not wait for its regular probe.
BEFORE_THE_NEXT_PROBE_S = 10.0
CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


class RecoveryStack:
    def __init__(self, directory: Path) -> None:
        self.gateway_port = free_port()
        self.model_port = free_port()
        config = write_config(
            directory,
            {
                "gateway": {"port": self.gateway_port, "health_interval_s": HEALTH_INTERVAL_S},
                "models": [smollm2_model(self.model_port)],
            },
        )
        self.url = f"http://127.0.0.1:{self.gateway_port}"
        self.log = directory / "citadel-up.log"
        self.supervisor = ServiceProcess(["up", "--config", str(config)], f"{self.url}/health", log=self.log)

    def kill_model_service(self) -> None:
        [victim] = [
            p for p in psutil.Process(self.supervisor.process.pid).children() if "serve-model" in p.cmdline()
        ]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

    def model_service_healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.model_port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def gateway_sees_model(self) -> bool:
        body = httpx.get(f"{self.url}/health", timeout=5).json()
        return bool(body["models"][SMOLLM2_NAME]["status"] == "healthy")

    def chat(self) -> int:
        return httpx.post(f"{self.url}/v1/chat/completions", json=CHAT, timeout=60).status_code


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RecoveryStack]:
    running = RecoveryStack(tmp_path)
    try:
        _wait(lambda: "Citadel is up." in running.log.read_text(encoding="utf-8"), 90, "citadel up")
        yield running
    finally:
        running.supervisor.stop()


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str, *, every_s: float = 0.05) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout_s``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout_s, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(every_s)
    return time.monotonic() - started


def _kill_and_wait_until_back(stack: RecoveryStack) -> float:
    """Seconds the model service was down."""
    stack.kill_model_service()
    # While it is down a request finds the connection refused: the gateway marks the replica down.
    assert stack.chat() == 503
    assert not stack.gateway_sees_model()
    return _wait(stack.model_service_healthy, 120, "the supervisor to restart the model service")


def test_a_killed_model_service_is_served_again_within_seconds_of_being_healthy(stack: RecoveryStack) -> None:
    assert stack.chat() == 200

    # Left alone, the gateway's own backoff probes find it again.
    down_first = _kill_and_wait_until_back(stack)
    seen_after = _wait(stack.gateway_sees_model, BEFORE_THE_NEXT_PROBE_S, "the gateway's probes")
    assert stack.chat() == 200

    # With clients asking meanwhile, the first request after it is back probes at once and is served.
    down_second = _kill_and_wait_until_back(stack)
    served_after = _wait(
        lambda: stack.chat() == 200, BEFORE_THE_NEXT_PROBE_S, "a served chat request", every_s=0.2
    )
    print(
        f"\nrecovery after SIGKILL, from the model service's own /health 200 (health_interval_s "
        f"{HEALTH_INTERVAL_S:.0f}): the gateway's probes saw it after {seen_after:.2f} s (down "
        f"{down_first:.1f} s); a chat request was served after {served_after:.2f} s "
        f"(down {down_second:.1f} s)"
    )
