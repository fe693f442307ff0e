"""A dead engine is visible: /health says 503 and why, every waiting and new request gets a 503 at once,
and the process exits with EXIT_ENGINE_DIED so that its supervisor restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from citadel.config import CitadelSettings
from citadel.engines.service_control import ServiceControl
from citadel.exit_codes import EXIT_ENGINE_DIED
from citadel.model_service.app import create_model_service_app
from citadel.model_service.batch_engine import BatchEngine, BatchRow
from tests.helpers import SMOLLM2_NAME, free_port, smollm2_model, write_config
from tests.model_service.faulty_engine import in_self_test

LAUNCHER = Path(__file__).with_name("faulty_engine.py")
COMPLETION = {"model": SMOLLM2_NAME, "prompt": "The capital of Japan is", "max_tokens": 8}


async def test_engine_death_fails_waiters_and_new_requests_with_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One sequence at a time, so that two of three requests wait in the queue when the engine dies.
    limits = {"max_model_len": 512, "max_num_seqs": 1, "max_num_batched_tokens": 64, "max_waiting": 8}
    settings = CitadelSettings(models=[smollm2_model(free_port(), limits=limits)], data_dir=str(tmp_path))
    release = threading.Event()
    real_decode = BatchEngine.decode

    def decode(self: BatchEngine, rows: list[BatchRow]) -> int:  # test double: a decode that fails
        if in_self_test():
            return real_decode(self, rows)  # the self-test, before serving
        release.wait(timeout=60)
        raise RuntimeError("injected decode failure")

    monkeypatch.setattr(BatchEngine, "decode", decode)
    control = ServiceControl()
    stopped = threading.Event()
    control.bind(stopped.set)
    app = create_model_service_app(settings, SMOLLM2_NAME, control=control)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=60) as client:
            assert (await client.get("/health")).status_code == 200
            pending = [asyncio.create_task(client.post("/v1/completions", json=COMPLETION)) for _ in range(3)]
            await asyncio.sleep(0.5)  # let all three reach the engine (one running, two waiting)
            release.set()
            # Bounded so that a waiter left hanging fails the test (the ASGI transport has no timeouts).
            answers = await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
            assert [answer.status_code for answer in answers] == [503, 503, 503]
            assert {answer.json()["error"]["code"] for answer in answers} == {"engine_died"}
            later = await client.post("/v1/completions", json=COMPLETION)
            assert later.status_code == 503
            assert later.json()["error"]["type"] == "service_unavailable"
            health = await client.get("/health")
            assert health.status_code == 503
            assert "injected decode failure" in health.json()["reason"]
    assert stopped.is_set()
    assert control.exit_code == EXIT_ENGINE_DIED


def test_service_whose_engine_dies_answers_503_and_exits_4(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, {"gateway": {"port": free_port()}, "models": [smollm2_model(port)]})
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "decode-raises",
            "serve-model",
            SMOLLM2_NAME,
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            assert process.poll() is None, (tmp_path / "service.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            threading.Event().wait(0.2)
        answer = httpx.post(f"{base}/v1/completions", json=COMPLETION, timeout=30)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "engine_died"
        assert process.wait(timeout=60) == EXIT_ENGINE_DIED
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
