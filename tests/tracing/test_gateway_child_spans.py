"""The gateway's child spans: admission, cache lookup and each upstream attempt under the request's server
span; the attempt's ``traceparent`` sent to the model service (whose spans then nest under it); the server
span annotated with the GenAI model, usage and finish reasons when the request is finished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from citadel.config import CitadelSettings, load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.finish import finish_reasons
from citadel.model_service.app import create_model_service_app
from tests.gateway.fake_upstream import COMPLETION, Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import SMOLLM2_NAME, free_port, served_in_process, smollm2_model, write_config

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
SERVER = "POST /v1/chat/completions"


@asynccontextmanager
async def _gateway(
    tmp_path: Path, models: list[dict[str, Any]], exporter: InMemorySpanExporter | None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    config = write_config(
        tmp_path, {"gateway": {"port": free_port(), "health_interval_s": 3600}, "models": models}
    )
    app = create_gateway_app(load_settings(config), span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client:
            yield app, client


@asynccontextmanager
async def _header_recorder(seen: list[dict[str, str]]) -> AsyncIterator[str]:
    """An upstream on loopback that answers every chat request and keeps the headers it came with."""

    async def chat(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response(COMPLETION)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_admission_cache_and_attempt_spans_nest_under_the_server_span(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    seen: list[dict[str, str]] = []
    async with (
        _header_recorder(seen) as upstream,
        _gateway(tmp_path, [remote_model("fake", upstream)], exporter) as (_, client),
    ):
        answer = await client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200
    (server,) = _named(exporter, SERVER)
    (admission,) = _named(exporter, "admission")
    (lookup,) = _named(exporter, "cache lookup")
    (attempt,) = _named(exporter, "chat fake")
    assert {_parent_id(admission), _parent_id(lookup), _parent_id(attempt)} == {_span_id(server)}
    assert dict(admission.attributes or {}) == {"gen_ai.request.model": "fake"}
    assert dict(lookup.attributes or {}) == {"citadel.cache.hit": False}
    assert attempt.kind is SpanKind.CLIENT
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fake"
    assert attributes["gen_ai.response.model"] == "fake"
    assert attributes["citadel.upstream.attempt"] == 1
    assert attributes["url.full"] == f"{upstream}/v1/chat/completions"
    assert attributes["http.response.status_code"] == 200
    # The upstream got the attempt span's traceparent: its spans would be the attempt's children.
    assert attempt.context is not None
    (headers,) = seen
    version, trace_id, parent_id, _flags = headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == (
        "00",
        f"{attempt.context.trace_id:032x}",
        f"{attempt.context.span_id:016x}",
    )
    # Finish annotated the server span with what the answer said.
    finished = dict(server.attributes or {})
    assert finished["gen_ai.request.model"] == "fake"
    assert finished["gen_ai.usage.input_tokens"] == COMPLETION["usage"]["prompt_tokens"]  # type: ignore[index]
    assert finished["gen_ai.usage.output_tokens"] == COMPLETION["usage"]["completion_tokens"]  # type: ignore[index]
    assert finished["gen_ai.response.finish_reasons"] == ("stop",)
    assert finished["citadel.cache"] == "miss"


async def test_a_cache_hit_has_a_lookup_span_and_no_attempt(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with (
        fake_upstream(Script()) as upstream,
        _gateway(tmp_path, [remote_model("fake", upstream)], exporter) as (_, client),
    ):
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        exporter.clear()
        answer = await client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200
    (lookup,) = _named(exporter, "cache lookup")
    assert dict(lookup.attributes or {}) == {"citadel.cache.hit": True}
    assert _named(exporter, "chat fake") == []
    (server,) = _named(exporter, SERVER)
    assert dict(server.attributes or {})["citadel.cache"] == "hit"


async def test_each_attempt_has_its_span_and_a_failed_one_is_an_error(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with (
        fake_upstream(Script(status=500)) as failing,
        fake_upstream(Script()) as working,
        _gateway(tmp_path, [remote_model("fake", failing, working)], exporter) as (_, client),
    ):
        # Round-robin may start on either replica: ask until one request needed a second attempt.
        for index in range(4):
            body = {**CHAT, "messages": [{"role": "user", "content": f"hi {index}"}]}
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    attempts = _named(exporter, "chat fake")
    failed = [span for span in attempts if span.status.status_code is StatusCode.ERROR]
    assert failed, "no request tried the failing replica"
    for span in failed:
        attributes = dict(span.attributes or {})
        assert attributes["url.full"] == f"{failing}/v1/chat/completions"
        assert attributes["http.response.status_code"] == 500
        assert attributes["error.type"] == "status_5xx"  # FailureKind.STATUS
        assert attributes["citadel.upstream.attempt"] == 1
    retried = [span for span in attempts if dict(span.attributes or {})["citadel.upstream.attempt"] == 2]
    assert len(retried) == len(failed)
    assert {dict(span.attributes or {})["url.full"] for span in retried} == {f"{working}/v1/chat/completions"}
    assert all(span.status.status_code is not StatusCode.ERROR for span in retried)


async def test_tracing_off_sends_no_traceparent(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []
    async with (
        _header_recorder(seen) as upstream,
        _gateway(tmp_path, [remote_model("fake", upstream)], None) as (_, client),
    ):
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
    (headers,) = seen
    assert "traceparent" not in {name.lower() for name in headers}


async def test_the_model_services_spans_nest_under_the_gateways_attempt(tmp_path: Path) -> None:
    port = free_port()
    service_settings = CitadelSettings(models=[smollm2_model(port)], data_dir=str(tmp_path / "service"))
    service_spans = InMemorySpanExporter()
    service = create_model_service_app(service_settings, SMOLLM2_NAME, span_exporter=service_spans)
    gateway_spans = InMemorySpanExporter()
    model = remote_model(SMOLLM2_NAME, f"http://127.0.0.1:{port}")
    # ignore_eos: exactly 3 tokens and finish reason "length", however the sampled text goes.
    body = {
        "model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
        "ignore_eos": True,
    }  # fmt: skip
    async with served_in_process(service, port), _gateway(tmp_path, [model], gateway_spans) as (_, client):
        answer = await client.post("/v1/chat/completions", json=body)
        assert answer.status_code == 200
        (gateway_server,) = _named(gateway_spans, SERVER)
        (attempt,) = _named(gateway_spans, f"chat {SMOLLM2_NAME}")
        gateway_spans.clear()
        # A stream's usage and finish reason are read from its tail when the relay ends.
        streamed = await client.post("/v1/chat/completions", json={**body, "stream": True})
    assert streamed.status_code == 200
    (service_server, _) = sorted(_named(service_spans, SERVER), key=lambda span: span.start_time or 0)
    assert attempt.context is not None
    assert service_server.context is not None
    assert service_server.context.trace_id == attempt.context.trace_id
    assert _parent_id(service_server) == _span_id(attempt)
    assert _parent_id(attempt) == _span_id(gateway_server)
    inference = [span for span in _named(service_spans, f"chat {SMOLLM2_NAME}") if span.parent is not None]
    assert _span_id(service_server) in {_parent_id(span) for span in inference}
    assert {span.name for span in service_spans.get_finished_spans()} >= {"engine.prefill", "engine.decode"}
    usage = answer.json()["usage"]
    finished = dict(gateway_server.attributes or {})
    assert finished["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert finished["gen_ai.usage.output_tokens"] == usage["completion_tokens"] == 3
    assert finished["gen_ai.response.finish_reasons"] == ("length",)
    (stream_server,) = _named(gateway_spans, SERVER)
    stream_finished = dict(stream_server.attributes or {})
    assert stream_finished["gen_ai.usage.output_tokens"] == 3
    assert stream_finished["gen_ai.response.finish_reasons"] == ("length",)


async def test_retrieval_runs_in_its_span(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with (
        fake_upstream(Script()) as upstream,
        _gateway(tmp_path, [remote_model("fake", upstream)], exporter) as (_, client),
    ):
        # The extension field always goes through retrieval (which drops it); with no store, nothing added.
        answer = await client.post("/v1/chat/completions", json={**CHAT, "citadel": {}})
    assert answer.status_code == 200
    (server,) = _named(exporter, SERVER)
    (retrieval,) = _named(exporter, "retrieval")
    assert _parent_id(retrieval) == _span_id(server)


def test_finish_reasons_are_read_per_choice_and_skip_nulls() -> None:
    stream_tail = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[{"index":1,"delta":{},"finish_reason": "length"}]}\n\ndata: [DONE]\n\n'
    )
    assert finish_reasons(stream_tail) == ["stop", "length"]
    assert finish_reasons(b'{"error": {"message": "m"}}') == []
