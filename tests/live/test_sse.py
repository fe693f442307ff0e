"""``/stream/metrics`` and ``/stream/chat/{model}`` (Server-Sent Events) on a real gateway process."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import SMOLLM2_NAME
from tests.live.clients import logged
from tests.live.gateway_process import LiveGateway

pytestmark = pytest.mark.timeout(120)


async def test_chat_stream_is_openais_stream_ending_with_done_and_logged_as_sse(gateway: LiveGateway) -> None:
    key = gateway.create_key("sse-chat")
    params = {"prompt": "Name a colour.", "max_tokens": "8", "temperature": "0", "token": key["secret"]}
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.get(f"{gateway.base_url}/stream/chat/{SMOLLM2_NAME}", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    request_id = response.headers["x-request-id"]
    row = logged(gateway, request_id)
    assert (row["transport"], row["statusCode"]) == ("sse", 200)


async def test_chat_stream_with_a_bad_key_is_an_openai_401(gateway: LiveGateway) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{gateway.base_url}/stream/chat/{SMOLLM2_NAME}",
            params={"prompt": "hi"},
            headers={"authorization": "Bearer ctd_wrong"},
        )
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_chat_stream_needs_messages_or_a_prompt(gateway: LiveGateway) -> None:
    key = gateway.create_key("sse-bad")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{gateway.base_url}/stream/chat/{SMOLLM2_NAME}",
            params={"messages": "[not json", "token": key["secret"]},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"


async def test_metrics_stream_sends_snapshots(gateway: LiveGateway) -> None:
    key = gateway.create_key("sse-metrics")
    snapshots = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "GET",
            f"{gateway.base_url}/stream/metrics",
            params={"interval": "0.2"},
            headers={"authorization": f"Bearer {key['secret']}"},
        ) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                snapshots.append(json.loads(line.removeprefix("data: ")))
            if len(snapshots) == 2:
                break
    assert snapshots[0]["timestamp"] < snapshots[1]["timestamp"]
    assert snapshots[1]["models"][0]["name"] == SMOLLM2_NAME


async def test_metrics_stream_without_a_key_is_a_401(gateway: LiveGateway) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{gateway.base_url}/stream/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
