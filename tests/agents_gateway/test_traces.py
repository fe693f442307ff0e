"""Traced, a translated request is a server span named for the API the client called, with the GenAI
attributes of the chat completion that served it, and its upstream attempt a client span under it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.agents_gateway.harness import MODEL, gateway
from tests.gateway.fake_upstream import COMPLETION

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"model": MODEL, "input": "hi"}),
    ],
)
async def test_translated_requests_are_traced(tmp_path: Path, path: str, body: dict[str, object]) -> None:
    exporter = InMemorySpanExporter()
    async with gateway(tmp_path, span_exporter=exporter) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        assert (await gw.client.post(path, json=body)).status_code == 200
    spans = exporter.get_finished_spans()
    (server,) = [span for span in spans if span.name == f"POST {path}"]
    (attempt,) = [span for span in spans if span.name == f"chat {MODEL}"]
    assert attempt.kind.name == "CLIENT"
    assert server.context is not None
    assert attempt.context is not None
    assert attempt.context.trace_id == server.context.trace_id
    attributes = dict(server.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (3, 1)
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert str(dict(attempt.attributes or {})["url.full"]).endswith("/v1/chat/completions")
