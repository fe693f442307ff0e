"""The gateway's server span: around the fast path, continuing the client's ``traceparent``; none at all,
and not even the wrapper, when tracing is off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.fast_path import GatewayApp
from citadel.gateway.services import services_of
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@asynccontextmanager
async def _gateway(
    tmp_path: Path, upstream: str, exporter: InMemorySpanExporter | None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    config = write_config(
        tmp_path,
        {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model("fake", upstream)],
        },
    )
    app = create_gateway_app(load_settings(config), span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as client:
            yield app, client


async def test_chat_runs_in_a_server_span_continuing_the_clients_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with fake_upstream(Script()) as upstream, _gateway(tmp_path, upstream, exporter) as (app, client):
        assert services_of(app.state).tracer.enabled
        assert (await client.get("/health")).status_code == 200  # excluded: no span
        headers = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
        answer = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert answer.status_code == 200
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "POST /v1/chat/completions"]
    assert [s.name for s in exporter.get_finished_spans() if s.name.endswith("/health")] == []
    assert span.context is not None
    assert f"{span.context.trace_id:032x}" == CLIENT_TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == CLIENT_SPAN
    assert span.kind.name == "SERVER"
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == 200
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.response.model"] == answer.headers["x-citadel-model"]
    assert "gen_ai.response.time_to_first_chunk" in attributes
    assert span.resource.attributes["service.name"] == "citadel-gateway"


async def test_a_failed_upstream_marks_the_server_span_an_error(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with (
        fake_upstream(Script(status=500)) as upstream,
        _gateway(tmp_path, upstream, exporter) as (_, client),
    ):
        answer = await client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code >= 500
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "POST /v1/chat/completions"]
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == str(answer.status_code)


async def test_tracing_off_leaves_the_gateway_unwrapped(tmp_path: Path) -> None:
    async with fake_upstream(Script()) as upstream, _gateway(tmp_path, upstream, None) as (app, client):
        assert type(app) is GatewayApp  # no wrapper: nothing runs per request
        assert not services_of(app.state).tracer.enabled
        assert services_of(app.state).tracer.headers() == ()
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
