"""Failover with real model services: a replica killed mid-run, and a fallback model answering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.gateway.harness import gateway_client, metric
from tests.helpers import (
    SMOLLM2_NAME,
    ServiceProcess,
    free_port,
    serve_smollm2,
    smollm2_model,
    write_config,
)

CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_killing_one_of_two_replicas_fails_no_request(tmp_path: Path, model_url: str) -> None:
    doomed = serve_smollm2(tmp_path)
    try:
        doomed_port = _port(doomed.health_url.removesuffix("/health"))
        model = smollm2_model(_port(model_url), replicas=[{"port": _port(model_url)}, {"port": doomed_port}])
        async with gateway_client(tmp_path, [model]) as gateway:
            done = 0
            some_done = asyncio.Event()
            gate = asyncio.Semaphore(4)

            async def one() -> int:
                nonlocal done
                async with gate:
                    response = await gateway.post("/v1/chat/completions", json=CHAT)
                done += 1
                if done == 4:
                    some_done.set()
                return response.status_code

            tasks = [asyncio.ensure_future(one()) for _ in range(16)]
            await some_done.wait()
            doomed.kill()  # requests are in flight on it right now, others are queued behind the gate
            statuses = await asyncio.gather(*tasks)
            health = (await gateway.get("/health")).json()
            metrics = (await gateway.get("/metrics")).text
    finally:
        doomed.kill()
    assert statuses == [200] * 16
    assert health["models"][SMOLLM2_NAME]["replicas"][1]["status"] == "unhealthy"
    assert health["status"] == "healthy"  # the model is up while one replica is
    assert metric(metrics, "llm_requests_total", model=SMOLLM2_NAME, status="success") == 16
    assert metric(metrics, "llm_retries_total", model=SMOLLM2_NAME) >= 1


async def test_fallback_model_answers_and_is_named(tmp_path: Path, model_url: str) -> None:
    models = [
        smollm2_model(free_port(), name="mixtral-8x7b", fallbacks=[SMOLLM2_NAME]),  # nothing listens there
        smollm2_model(_port(model_url)),
    ]
    async with gateway_client(tmp_path, models) as gateway:
        response = await gateway.post("/v1/chat/completions", json={**CHAT, "model": "mixtral-8x7b"})
        metrics = (await gateway.get("/metrics")).text
    assert response.status_code == 200
    assert response.headers["x-citadel-model"] == SMOLLM2_NAME
    assert response.json()["model"] == SMOLLM2_NAME
    assert metric(metrics, "llm_fallbacks_total", model="mixtral-8x7b", fallback=SMOLLM2_NAME) == 1
    assert metric(metrics, "llm_requests_total", model=SMOLLM2_NAME, status="success") == 1
    assert isinstance(response, httpx.Response)


async def test_model_service_killed_mid_stream_ends_it_with_an_error_event(tmp_path: Path) -> None:
    doomed = serve_smollm2(tmp_path)
    gateway_port = free_port()
    try:
        model = smollm2_model(_port(doomed.health_url.removesuffix("/health")))
        config = write_config(tmp_path, {"gateway": {"port": gateway_port}, "models": [model]})
        gateway = await asyncio.to_thread(
            ServiceProcess,
            ["gateway", "--config", str(config)],
            f"http://127.0.0.1:{gateway_port}/health",
            log=tmp_path / "gateway.log",
        )
        try:
            body = {**CHAT, "stream": True, "max_tokens": 400, "ignore_eos": True}
            events: list[str] = []
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}", timeout=120) as client,
                client.stream("POST", "/v1/chat/completions", json=body) as response,
            ):
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        events.append(line.removeprefix("data: "))
                    if len(events) == 3:
                        doomed.kill()  # the rest of the answer will never come
        finally:
            await asyncio.to_thread(gateway.stop)
    finally:
        doomed.kill()
    assert len(events) > 3
    assert events[-1] != "[DONE]"
    assert json.loads(events[-1])["error"]["code"] == "upstream_failed"
