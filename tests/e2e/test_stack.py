"""The real stack: ``citadel up`` starts SmolLM2's model service and the gateway; the official ``openai``
client talks to the gateway. Covers the supervisor's restart and a clean stop with no orphans."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config

pytestmark = pytest.mark.e2e


class Stack:
    def __init__(self, directory: Path, *, replica_ports: tuple[int, ...] = ()) -> None:
        """``replica_ports``: more local replicas of the model, which ``citadel up`` starts too."""
        self.gateway_port = free_port()
        self.model_port = free_port()
        # Threads from citadel up's core budget, so that replicas share the cores instead of contending.
        model = smollm2_model(self.model_port, threads=None)
        if replica_ports:
            model["replicas"] = [{"port": port} for port in (self.model_port, *replica_ports)]
            model["balancing"] = "weighted_round_robin"  # every replica gets its share, in turn
        config = write_config(
            directory,
            {"gateway": {"port": self.gateway_port, "health_interval_s": 0.5}, "models": [model]},
        )
        self.url = f"http://127.0.0.1:{self.gateway_port}"
        self.supervisor = ServiceProcess(
            ["up", "--config", str(config)], f"{self.url}/health", log=directory / "citadel-up.log"
        )
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0, timeout=60)

    def model_service(self) -> psutil.Process:
        [child] = [
            p for p in psutil.Process(self.supervisor.process.pid).children() if "serve-model" in p.cmdline()
        ]
        return child

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.supervisor.process.pid).children(recursive=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.supervisor.stop()


def test_chat_completion_through_the_gateway(stack: Stack) -> None:
    completion = stack.client.chat.completions.create(
        model=SMOLLM2_NAME,
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        max_tokens=16,
        temperature=0,
    )
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_streamed_chat_reports_usage(stack: Stack) -> None:
    stream = stack.client.chat.completions.create(
        model=SMOLLM2_NAME,
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    usage = chunks[-1].usage
    assert usage is not None
    assert 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_text_completion(stack: Stack) -> None:
    completion = stack.client.completions.create(
        model=SMOLLM2_NAME, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert completion.choices[0].text
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_models_list(stack: Stack) -> None:
    assert [model.id for model in stack.client.models.list()] == [SMOLLM2_NAME]


def test_unknown_model_is_404(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        stack.client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404


def test_malformed_json_is_400(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.url}/v1/chat/completions",
        content=b'{"model": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_killed_model_service_is_reported_then_restarted(stack: Stack) -> None:
    victim = stack.model_service()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    # The supervisor waits a backoff second before restarting: the gateway must say 503 meanwhile.
    with pytest.raises(openai.InternalServerError) as caught:
        stack.client.chat.completions.create(
            model=SMOLLM2_NAME, messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert caught.value.status_code == 503
    health = httpx.get(f"{stack.url}/health").json()
    assert health["models"][SMOLLM2_NAME]["status"] == "unhealthy"

    _wait(lambda: httpx.get(f"{stack.url}/health").json()["status"] == "healthy", 60, "the restarted model")
    assert stack.model_service().pid != victim.pid
    completion = stack.client.chat.completions.create(
        model=SMOLLM2_NAME, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert completion.choices[0].message.content is not None


def _served(port: int) -> float:
    """Requests a model service has finished, from its own /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    counts = [line for line in text.splitlines() if line.startswith("vllm:e2e_request_latency_seconds_count")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in counts)


def test_local_replicas_are_started_served_and_stopped_with_the_rest(tmp_path: Path) -> None:
    replica_port = free_port()
    stack = Stack(tmp_path, replica_ports=(replica_port,))
    log = tmp_path / "citadel-up.log"
    # The gateway may answer before the supervisor has seen it healthy; stop only once it says it is up.
    _wait(lambda: "Citadel is up." in log.read_text(encoding="utf-8"), 60, "the supervisor to report up")
    services = [p for p in stack.descendants() if "serve-model" in p.cmdline()]
    assert sorted(p.cmdline()[p.cmdline().index("serve-model") + 1] for p in services) == sorted(
        [SMOLLM2_NAME, f"{SMOLLM2_NAME}:{replica_port}"]
    )
    for _ in range(4):
        stack.client.chat.completions.create(
            model=SMOLLM2_NAME, messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert _served(stack.model_port) >= 1
    assert _served(replica_port) >= 1
    children = stack.descendants()
    assert len(children) >= 3  # two model services and the gateway
    os.kill(stack.supervisor.process.pid, signal.SIGTERM)
    assert stack.supervisor.process.wait(timeout=30) == 0
    stack.supervisor.stop()  # closes its log
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphans left: {alive}"
    assert "Citadel stopped." in log.read_text(encoding="utf-8")
