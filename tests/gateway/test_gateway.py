"""The gateway in-process (ASGI) in front of a real model service and an unreachable one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from tests.helpers import SMOLLM2_NAME, free_port, smollm2_model, write_config

MAX_TOKENS = 5
CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": MAX_TOKENS}


def _gateway_config(tmp_path: Path, model_url: str, *, with_dead_model: bool) -> Path:
    live_port = int(model_url.rsplit(":", 1)[1])
    models: list[dict[str, Any]] = [smollm2_model(live_port)]
    if with_dead_model:
        models.append(smollm2_model(free_port(), name="ghost"))  # nothing listens there
    return write_config(
        tmp_path, {"gateway": {"port": free_port(), "health_interval_s": 3600}, "models": models}
    )


@pytest.fixture
async def gateway(tmp_path: Path, model_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway_app(load_settings(_gateway_config(tmp_path, model_url, with_dead_model=True)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as client:
            yield client


async def test_chat_is_proxied_and_counted(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    usage = response.json()["usage"]
    metrics = (await gateway.get("/metrics")).text
    assert (
        'llm_requests_total{cache="none",endpoint="/v1/chat/completions",'
        f'model="{SMOLLM2_NAME}",status="success"}} 1.0' in metrics
    )
    assert (
        f'llm_tokens_processed_total{{model="{SMOLLM2_NAME}",type="prompt"}} {usage["prompt_tokens"]}.0'
        in metrics
    )
    completion_line = f'llm_tokens_processed_total{{model="{SMOLLM2_NAME}",type="completion"}}'
    assert f"{completion_line} {usage['completion_tokens']}.0" in metrics
    assert (
        f'llm_request_duration_seconds_count{{endpoint="/v1/chat/completions",model="{SMOLLM2_NAME}"}} 1.0'
        in metrics
    )
    assert f'llm_active_requests{{model="{SMOLLM2_NAME}"}} 0.0' in metrics


async def test_stream_is_relayed_and_usage_counted(gateway: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = await gateway.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])["usage"]
    metrics = (await gateway.get("/metrics")).text
    counter = f'llm_tokens_processed_total{{model="{SMOLLM2_NAME}",type="completion"}}'
    assert f"{counter} {usage['completion_tokens']}.0" in metrics


async def test_a_stream_without_usage_asked_is_still_counted_and_the_client_sees_no_usage_chunk(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks
    assert all(chunk["choices"] for chunk in chunks)  # the usage-only chunk the gateway asked for is gone
    metrics = (await gateway.get("/metrics")).text
    counter = f'llm_tokens_processed_total{{model="{SMOLLM2_NAME}",type="completion"}}'
    [line] = [line for line in metrics.splitlines() if line.startswith(counter)]
    assert 0 < float(line.rsplit(" ", 1)[1]) <= MAX_TOKENS


async def test_upstream_errors_pass_through_unchanged(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/v1/completions", json={"model": SMOLLM2_NAME, "prompt": "x " * 700})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_health_is_degraded_and_names_the_dead_model(gateway: httpx.AsyncClient) -> None:
    health = await gateway.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["healthy_models"] == [SMOLLM2_NAME]
    assert body["unhealthy_models"] == ["ghost"]
    assert body["models"]["ghost"]["status"] == "unhealthy"
    assert body["models"]["ghost"]["error"]
    models = (await gateway.get("/v1/models")).json()
    assert [card["id"] for card in models["data"]] == [SMOLLM2_NAME]
    assert models["data"][0]["owned_by"] == "citadel-ai"
    metrics = (await gateway.get("/metrics")).text
    assert 'llm_model_health{model="ghost"} 0.0' in metrics
    assert f'llm_model_health{{model="{SMOLLM2_NAME}"}} 1.0' in metrics


async def test_unhealthy_model_is_a_503(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/v1/chat/completions", json={**CHAT, "model": "ghost"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "service_unavailable"
    assert "ghost" in error["message"]


@pytest.mark.parametrize(
    ("content", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"messages": []}', 400, "model"),
        (b'{"model": "gpt-17", "messages": []}', 404, "model"),
    ],
)
async def test_bad_requests_get_openai_errors(
    gateway: httpx.AsyncClient, content: bytes, status: int, param: str | None
) -> None:
    response = await gateway.post(
        "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_all_models_down_is_unhealthy_503(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, {"gateway": {"port": free_port()}, "models": [smollm2_model(free_port())]}
    )
    app = create_gateway_app(load_settings(config))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://g") as client,
    ):
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert (await client.get("/v1/models")).json()["data"] == []
