"""The model and embedding services' spans: a server span continuing the caller's ``traceparent``, the
GenAI inference span under it, and the engine's queue, prefill and decode phases under that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from citadel.config import CitadelSettings
from citadel.config.sections import TracingSettings
from citadel.embedding_service.app import create_embedding_service_app
from citadel.model_service.app import create_model_service_app
from citadel.tracing import ServerSpans, Tracing
from tests.helpers import MINILM_NAME, SMOLLM2_NAME, free_port, minilm_model, smollm2_model


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


async def test_model_service_continues_the_gateways_trace_with_engine_phases(tmp_path: Path) -> None:
    settings = CitadelSettings(models=[smollm2_model(free_port())], data_dir=str(tmp_path))
    exporter = InMemorySpanExporter()
    app = create_model_service_app(settings, SMOLLM2_NAME, span_exporter=exporter)
    # The calling side, as the gateway's upstream attempt will do it: its span's traceparent on the call.
    caller_spans = InMemorySpanExporter()
    caller = Tracing(TracingSettings(), "gateway", exporter=caller_spans)
    caller.open()
    # ignore_eos: exactly max_tokens tokens, however the sampled text goes (an early EOS would change counts)
    body = {
        "model": SMOLLM2_NAME, "prompt": "The capital of Japan is", "max_tokens": 6, "stream": True,
        "ignore_eos": True,
    }  # fmt: skip
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=60) as client:
            assert (await client.get("/health")).status_code == 200
            with caller.tracer.span("upstream attempt") as attempt:
                headers = {key.decode(): value.decode() for key, value in caller.tracer.headers()}
                answer = await client.post("/v1/completions", json=body, headers=headers)
    await caller.aclose()
    assert answer.status_code == 200
    chunks = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: {")]
    spans = _by_name(exporter)
    assert set(spans) == {
        "POST /v1/completions",
        f"text_completion {SMOLLM2_NAME}",
        "engine.queue",
        "engine.prefill",
        "engine.decode",
    }  # and none for /health
    server = spans["POST /v1/completions"]
    attempt_context = attempt.get_span_context()
    assert server.context is not None
    assert server.context.trace_id == attempt_context.trace_id
    assert _parent_id(server) == attempt_context.span_id
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["gen_ai.operation.name"] == "text_completion"
    first_chunk = server.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(first_chunk, float)
    assert first_chunk > 0
    inference = spans[f"text_completion {SMOLLM2_NAME}"]
    assert _parent_id(inference) == _span_id(server)
    attributes = dict(inference.attributes or {})
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.provider.name"] == "citadel"
    assert attributes["gen_ai.request.model"] == SMOLLM2_NAME
    assert attributes["gen_ai.response.model"] == SMOLLM2_NAME
    assert attributes["gen_ai.response.id"] == chunks[0]["id"]
    assert attributes["gen_ai.request.max_tokens"] == 6
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.output_tokens"] == 6
    input_tokens = attributes["gen_ai.usage.input_tokens"]
    assert isinstance(input_tokens, int)
    assert input_tokens > 0
    assert attributes["gen_ai.response.finish_reasons"] == ("length",)
    phases = [spans[name] for name in ("engine.queue", "engine.prefill", "engine.decode")]
    assert {_parent_id(phase) for phase in phases} == {_span_id(inference)}
    starts = [phase.start_time or 0 for phase in phases]
    assert starts == sorted(starts)
    assert (inference.start_time or 0) <= starts[0]
    assert (phases[-1].end_time or 0) <= (inference.end_time or 0)
    assert dict(spans["engine.decode"].attributes or {}) == {"gen_ai.usage.output_tokens": 6}


async def test_model_service_without_tracing_records_nothing(tmp_path: Path) -> None:
    settings = CitadelSettings(models=[smollm2_model(free_port())], data_dir=str(tmp_path))
    app = create_model_service_app(settings, SMOLLM2_NAME)
    assert ServerSpans not in [cast(object, layer.cls) for layer in app.user_middleware]
    async with app.router.lifespan_context(app):
        assert not app.state.model_service.tracer.enabled


async def test_embedding_service_spans(tmp_path: Path) -> None:
    settings = CitadelSettings(models=[minilm_model(free_port())], data_dir=str(tmp_path))
    exporter = InMemorySpanExporter()
    app = create_embedding_service_app(settings, MINILM_NAME, span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=60) as client:
            answer = await client.post("/v1/embeddings", json={"model": MINILM_NAME, "input": ["hello"]})
    assert answer.status_code == 200
    spans = _by_name(exporter)
    assert set(spans) == {"POST /v1/embeddings", f"embeddings {MINILM_NAME}", "embedding.encode"}
    inference = spans[f"embeddings {MINILM_NAME}"]
    assert _parent_id(inference) == _span_id(spans["POST /v1/embeddings"])
    assert _parent_id(spans["embedding.encode"]) == _span_id(inference)
    attributes = dict(inference.attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == answer.json()["usage"]["prompt_tokens"]
    assert attributes["gen_ai.response.model"] == MINILM_NAME
