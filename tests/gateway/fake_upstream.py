"""A scriptable OpenAI-compatible upstream on a loopback port, for failures a model service won't make."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import free_port

COMPLETION = {
    "id": "cmpl-fake",
    "object": "chat.completion",
    "model": "fake",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@dataclass
class Script:
    """What the upstream does; tests change it between requests."""

    status: int = 200  # for non-streaming answers
    completion: dict[str, Any] = field(default_factory=lambda: COMPLETION)  # the non-streaming answer
    chunks: list[dict[str, Any]] | None = None  # a stream's chunks (else stream_events text deltas)
    cut_stream_after: int | None = None  # events sent before the connection is dropped
    stream_events: int = 5
    event_interval_s: float = 0.0
    reader_left: bool = False  # a stream's reader (the gateway) closed the connection before the end
    answer_after: asyncio.Event | None = None  # non-streaming answers wait for it (to outlast timeouts)
    answer_delay_s: float = 0.0  # non-streaming answers take this long (requests stay in flight)
    first_event_after: asyncio.Event | None = None  # streams wait for it before their first event
    health_after: asyncio.Event | None = None  # health answers wait for it
    seen_request_ids: list[str] = field(default_factory=list)
    seen_models: list[str] = field(default_factory=list)
    seen_authorization: list[str] = field(default_factory=list)
    seen_bodies: list[bytes] = field(default_factory=list)  # each chat request's body, as it arrived
    calls: int = 0
    health_calls: int = 0
    called: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first chat call


def _app(script: Script) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        script.health_calls += 1
        if script.health_after is not None:
            await script.health_after.wait()
        return web.json_response({"status": "ok"})

    async def chat(request: web.Request) -> web.StreamResponse:
        script.calls += 1
        script.called.set()
        script.seen_request_ids.append(request.headers.get("x-request-id", ""))
        script.seen_authorization.append(request.headers.get("authorization", ""))
        script.seen_bodies.append(await request.read())
        body = await request.json()
        script.seen_models.append(body["model"])
        if not body.get("stream"):
            if script.answer_after is not None:
                await script.answer_after.wait()
            if script.answer_delay_s:
                await asyncio.sleep(script.answer_delay_s)
            if script.status != 200:
                return web.json_response(
                    {"error": {"message": "boom", "type": "server_error"}}, status=script.status
                )
            return web.json_response(script.completion)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if script.first_event_after is not None:
            await script.first_event_after.wait()
        if script.chunks is not None:
            for chunk in script.chunks:
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        for index in range(script.stream_events):
            if script.cut_stream_after is not None and index == script.cut_stream_after:
                assert request.transport is not None
                request.transport.abort()  # a crash mid-stream: no terminating chunk
                return response
            delta = {"choices": [{"index": 0, "delta": {"content": f"t{index}"}}]}
            try:
                await response.write(b"data: " + json.dumps(delta).encode() + b"\n\n")
            except ConnectionError:
                script.reader_left = True
                return response
            await asyncio.sleep(script.event_interval_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        script.seen_models.append(body["model"])
        data = [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}]
        usage = {"prompt_tokens": 2, "total_tokens": 2}
        return web.json_response({"object": "list", "data": data, "model": body["model"], "usage": usage})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


@asynccontextmanager
async def fake_upstream(script: Script, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve ``script`` on 127.0.0.1 (on ``port``, or a free one); yields the base URL."""
    runner = web.AppRunner(_app(script), access_log=None)
    await runner.setup()
    port = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
