"""One outcome per request: each proxied request is counted once — one request-log entry, one increment of
``llm_requests_total`` — whatever becomes of it: an answer, an error, a stream, a cache hit, a client that
left; and requests go upstream byte for byte when nothing must change them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from citadel.gateway.services import services_of
from citadel.governance import RequestLogEntry
from tests.gateway.fake_upstream import COMPLETION, Script, fake_upstream
from tests.gateway.harness import gateway_app, metric, remote_model

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    script: Script
    entries: list[RequestLogEntry]

    async def metrics(self) -> str:
        return (await self.client.get("/metrics")).text

    def requests(self, text: str, **labels: str) -> float:
        return metric(text, "llm_requests_total", model="fake", **labels)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    script = Script()
    async with (
        fake_upstream(script) as url,
        gateway_app(tmp_path, [remote_model("fake", url)]) as (app, client),
    ):
        governance = services_of(app.state).governance
        entries: list[RequestLogEntry] = []
        record = governance.record

        def recorded(entry: RequestLogEntry, *, count_usage: bool = True) -> None:
            entries.append(entry)
            record(entry, count_usage=count_usage)

        governance.record = recorded  # type: ignore[method-assign]  # the instance's: the finisher calls it
        yield Gateway(app, client, script, entries)


async def test_an_answer_is_counted_once(gateway: Gateway) -> None:
    response = await gateway.client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type, entry.served_model) == (200, None, "fake")
    assert (entry.prompt_tokens, entry.completion_tokens) == (3, 1)
    assert gateway.requests(text, status="success", cache="none") == 1
    assert metric(text, "llm_request_duration_seconds_count", model="fake") == 1
    assert metric(text, "llm_gateway_overhead_seconds_count", model="fake") == 1
    assert metric(text, "llm_tokens_processed_total", model="fake", type="prompt") == 3
    assert metric(text, "llm_active_requests", model="fake") == 0


async def test_an_upstream_error_is_counted_once_with_its_code(gateway: Gateway) -> None:
    gateway.script.status = 500
    response = await gateway.client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 500
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type) == (500, "server_error")
    assert gateway.requests(text, status="error") == 1
    assert gateway.requests(text, status="success") == 0
    assert metric(text, "llm_active_requests", model="fake") == 0


async def test_a_refused_request_is_logged_but_not_in_the_model_metrics(gateway: Gateway) -> None:
    response = await gateway.client.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
    assert response.status_code == 404
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type, entry.model) == (404, "model_not_found", "no-such-model")
    assert 'model="no-such-model"' not in await gateway.metrics()


async def test_a_stream_is_counted_once_when_it_ends(gateway: Gateway) -> None:
    response = await gateway.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    assert response.text.endswith("data: [DONE]\n\n")
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type) == (200, None)
    assert entry.ttft_ms is not None
    assert gateway.requests(text, status="success", cache="none") == 1
    assert metric(text, "llm_time_to_first_token_seconds_count", model="fake") == 1
    assert metric(text, "llm_active_requests", model="fake") == 0


async def test_a_stream_cut_mid_way_is_one_error(gateway: Gateway) -> None:
    gateway.script.cut_stream_after = 2
    response = await gateway.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert '"upstream_failed"' in response.text
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type) == (200, "upstream_failed")
    assert gateway.requests(text, status="error") == 1
    assert gateway.requests(text, status="success") == 0


async def test_cache_hits_are_counted_with_their_label(gateway: Gateway) -> None:
    deterministic = {**CHAT, "temperature": 0}
    first = await gateway.client.post("/v1/chat/completions", json=deterministic)
    second = await gateway.client.post("/v1/chat/completions", json=deterministic)
    assert (first.headers["x-citadel-cache"], second.headers["x-citadel-cache"]) == ("miss", "hit")
    assert second.content == first.content
    assert gateway.script.calls == 1
    text = await gateway.metrics()
    assert gateway.requests(text, status="success", cache="miss") == 1
    assert gateway.requests(text, status="success", cache="hit") == 1
    assert metric(text, "llm_request_duration_seconds_count", model="fake") == 1  # the model's latency
    assert metric(text, "llm_tokens_processed_total", model="fake", type="prompt") == 3  # counted once
    assert [entry.cache_hit for entry in gateway.entries] == [False, True]
    assert gateway.entries[1].prompt_tokens == 0


async def test_a_client_that_leaves_mid_stream_is_one_cancelled_request(gateway: Gateway) -> None:
    gateway.script.event_interval_s = 0.05
    gateway.script.stream_events = 20
    sent: list[Message] = []
    await _call_leaving_after_first_chunk(gateway.app, {**CHAT, "stream": True}, sent)
    assert sent[0]["status"] == 200
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert (entry.status_code, entry.error_type) == (499, "client_disconnected")
    assert gateway.requests(text, status="cancelled") == 1
    assert gateway.requests(text, status="success") == 0
    assert metric(text, "llm_active_requests", model="fake") == 0


async def test_a_request_cancelled_while_forwarded_is_one_cancelled_request(gateway: Gateway) -> None:
    gateway.script.answer_after = answer = asyncio.Event()  # the model answers only after the cancel
    task = asyncio.create_task(gateway.client.post("/v1/chat/completions", json=CHAT))
    await gateway.script.called.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    answer.set()  # lets the fake upstream's handler end (it would hold up its shutdown)
    text = await gateway.metrics()
    [entry] = gateway.entries
    assert entry.status_code == 499
    assert gateway.requests(text, status="cancelled") == 1
    assert metric(text, "llm_active_requests", model="fake") == 0


# -- bytes stay bytes ---------------------------------------------------------------------------------------
async def test_the_upstream_gets_the_clients_bytes(gateway: Gateway) -> None:
    # Spacing, key order, escapes and number spellings a re-serialisation would change.
    raw = b'{ "messages":[{"role":"user","content":"caf\\u00e9 \xe2\x98\x95"}],\n  "model": "fake", '
    raw += b'"top_p": 1.0 }'
    response = await _post(gateway, raw)
    assert response.status_code == 200
    assert gateway.script.seen_bodies == [raw]
    # The answer comes back as the upstream sent it (aiohttp's json.dumps), not re-serialised.
    assert response.content == json.dumps(COMPLETION).encode()


async def test_a_stream_asking_for_its_usage_goes_up_unchanged(gateway: Gateway) -> None:
    raw = json.dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}}, indent=1).encode()
    await _post(gateway, raw)
    assert gateway.script.seen_bodies == [raw]


async def test_a_stream_gets_the_usage_option_in_front_of_the_clients_bytes(gateway: Gateway) -> None:
    raw = b' {"model": "fake", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    await _post(gateway, raw)
    [seen] = gateway.script.seen_bodies
    assert seen == b' {"stream_options":{"include_usage":true},' + raw[2:]
    assert json.loads(seen) == {**json.loads(raw), "stream_options": {"include_usage": True}}


async def _post(gateway: Gateway, raw: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return await gateway.client.post("/v1/chat/completions", content=raw, headers=headers)


async def _call_leaving_after_first_chunk(app: FastAPI, body: dict[str, Any], sent: list[Message]) -> None:
    """Call ``app`` over ASGI as a client that disconnects once the first body chunk reached it."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }
    left = asyncio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            left.set()

    await app(scope, receive, send)
