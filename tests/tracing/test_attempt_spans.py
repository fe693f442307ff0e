"""Attempt spans beyond a plain answer: a stream's attempt lasts until its relay ends, and the gateway's own
embedding calls (retrieval, the semantic cache) are attempts with their span and ``traceparent`` too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from citadel.config import CitadelSettings, load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.model_calls import open_model_calls
from citadel.tracing import Tracing
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

INTERVAL_S = 0.05
EVENTS = 5


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_a_streams_attempt_span_ends_with_the_relay(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    script = Script(stream_events=EVENTS, event_interval_s=INTERVAL_S)
    async with fake_upstream(script) as upstream:
        config = write_config(
            tmp_path,
            {
                "gateway": {"port": free_port(), "health_interval_s": 3600},
                "models": [remote_model("fake", upstream)],
            },
        )
        app = create_gateway_app(load_settings(config), span_exporter=exporter)
        body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                answer = await client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200
    assert answer.text.endswith("data: [DONE]\n\n")
    (attempt,) = _named(exporter, "chat fake")
    assert attempt.start_time is not None
    assert attempt.end_time is not None
    # The upstream sleeps INTERVAL_S after each event: the span covers the events after the first too.
    assert attempt.end_time - attempt.start_time >= (EVENTS - 1) * INTERVAL_S * 1e9
    assert "error.type" not in dict(attempt.attributes or {})


@asynccontextmanager
async def _embedding_recorder(seen: list[dict[str, str]]) -> AsyncIterator[str]:
    """An embedding upstream on loopback that keeps the headers each call came with."""

    async def embeddings(request: web.Request) -> web.Response:
        seen.append({name.lower(): value for name, value in request.headers.items()})
        body = await request.json()
        data = [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}]
        return web.json_response({"object": "list", "data": data, "model": body["model"]})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_an_embedding_call_is_an_attempt_span_whose_traceparent_goes_upstream() -> None:
    exporter = InMemorySpanExporter()
    seen: list[dict[str, str]] = []
    async with _embedding_recorder(seen) as upstream:
        settings = CitadelSettings(models=[remote_model("vectors", upstream)])
        tracing = Tracing(settings.tracing, "gateway", exporter=exporter)
        tracing.open()
        try:
            async with open_model_calls(settings, tracer=tracing.tracer) as calls:
                with tracing.tracer.span("retrieval"):
                    status, _ = await calls.call(
                        "vectors", "POST", "/v1/embeddings", b'{"model": "vectors", "input": ["hi"]}'
                    )
        finally:
            await tracing.aclose()
    assert status == 200
    (retrieval,) = _named(exporter, "retrieval")
    (attempt,) = _named(exporter, "embeddings vectors")
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.parent is not None
    assert retrieval.context is not None
    assert attempt.parent.span_id == retrieval.context.span_id
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["url.full"] == f"{upstream}/v1/embeddings"
    assert attributes["http.response.status_code"] == 200
    assert attributes["citadel.upstream.attempt"] == 1
    (headers,) = seen
    assert attempt.context is not None
    _version, trace_id, parent_id, _flags = headers["traceparent"].split("-")
    assert (trace_id, parent_id) == (f"{attempt.context.trace_id:032x}", f"{attempt.context.span_id:016x}")
