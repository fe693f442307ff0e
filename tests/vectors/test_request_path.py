"""The request path the gateway wires: retrieval, then the exact cache, then forwarding (to the real SmolLM2
model service) and storing; the second identical request is a hit, streamed or not, byte for byte."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CollectorRegistry

from citadel.cache import STATUS_HEADER, CachedResponse, ResponseCache, hit_headers, replay_chunks
from citadel.errors import install_error_handlers
from citadel.vectors import RETRIEVAL_HEADER, NewPoint, Vectors, augment, retrieval_header
from citadel.vectors.ids import text_point_id
from tests.helpers import SMOLLM2_NAME

CHAT = "/v1/chat/completions"
FACT = "The Citadel gateway listens on port 8000."


def _reference_app(cache: ResponseCache, vectors: Vectors, model_url: str) -> FastAPI:
    """How a gateway calls the packages, in a few lines (the real one forwards with its own client)."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post(CHAT)
    async def chat(request: Request) -> Response:
        augmented = await augment(await request.json(), vectors)
        headers = {RETRIEVAL_HEADER: retrieval_header(augmented.point_ids)}
        plan = cache.plan(CHAT, augmented.body, header=request.headers.get("x-citadel-cache"))
        if plan is not None and (hit := await cache.get(plan)) is not None:
            headers |= hit_headers(hit)
            if hit.streamed:
                return StreamingResponse(replay_chunks(hit), headers=headers, media_type=hit.content_type)
            return Response(hit.body, headers=headers, media_type=hit.content_type)
        if plan is not None:
            headers[STATUS_HEADER] = "miss"
        client = httpx.AsyncClient(base_url=model_url, timeout=120)
        upstream = await client.send(client.build_request("POST", CHAT, json=augmented.body), stream=True)
        if augmented.body.get("stream"):
            recorder = cache.recorder()

            async def relay() -> AsyncIterator[bytes]:
                async for chunk in upstream.aiter_raw():
                    recorder.add(chunk)
                    yield chunk
                await upstream.aclose()
                await client.aclose()
                if plan is not None:
                    await cache.put(plan, recorder.result(model=SMOLLM2_NAME))

            return StreamingResponse(relay(), headers=headers, media_type="text/event-stream")
        body = await upstream.aread()
        await client.aclose()
        if plan is not None:
            await cache.put(plan, CachedResponse(upstream.status_code, "application/json", body=body))
        return Response(
            body, status_code=upstream.status_code, headers=headers, media_type="application/json"
        )

    return app


@pytest.fixture
async def gateway(
    vectors: Vectors, model_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, CollectorRegistry]]:
    await vectors.add("docs", [NewPoint(text=FACT), NewPoint(text="Bananas are berries.")])
    registry = CollectorRegistry()
    cache = await ResponseCache.open(vectors.settings, registry=registry)
    transport = httpx.ASGITransport(app=_reference_app(cache, vectors, model_url))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client:
        yield client, registry
    await cache.aclose()


def _chat(**extra: Any) -> dict[str, Any]:
    return {
        "model": SMOLLM2_NAME,
        "messages": [{"role": "user", "content": "Which port does the Citadel gateway listen on?"}],
        "max_tokens": 12,
        "temperature": 0,
        "citadel": {"retrieval": {"collection": "docs", "top_k": 1}},
        **extra,
    }


async def test_json_answer_is_cached_with_retrieval(
    gateway: tuple[httpx.AsyncClient, CollectorRegistry],
) -> None:
    client, registry = gateway
    first = await client.post(CHAT, json=_chat())
    assert first.status_code == 200, first.text
    assert first.headers[STATUS_HEADER] == "miss"
    assert first.headers[RETRIEVAL_HEADER] == text_point_id(FACT)
    second = await client.post(CHAT, json=_chat(user="someone-else"))
    assert second.headers[STATUS_HEADER] == "hit"
    assert second.content == first.content
    assert json.loads(second.content)["object"] == "chat.completion"
    bypass = await client.post(CHAT, json=_chat(), headers={"x-citadel-cache": "off"})
    assert STATUS_HEADER not in bypass.headers
    assert registry.get_sample_value("llm_cache_hits_total", {"model": SMOLLM2_NAME}) == 1
    assert registry.get_sample_value("llm_cache_misses_total", {"model": SMOLLM2_NAME}) == 1


async def test_stream_is_replayed_byte_for_byte(gateway: tuple[httpx.AsyncClient, CollectorRegistry]) -> None:
    client, _ = gateway
    body = _chat(stream=True)
    first = await client.post(CHAT, json=body)
    assert first.headers[STATUS_HEADER] == "miss"
    assert first.content.rstrip().endswith(b"data: [DONE]")
    second = await client.post(CHAT, json=body)
    assert second.headers[STATUS_HEADER] == "hit"
    assert second.headers["content-type"].startswith("text/event-stream")
    assert second.content == first.content
    unstreamed = await client.post(CHAT, json=_chat())
    assert unstreamed.headers[STATUS_HEADER] == "miss"  # a streamed answer is not replayed as JSON
