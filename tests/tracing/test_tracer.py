"""The tracer itself: free when off (no provider, no exporter, no spans), spans and propagation when on,
and the OTLP exporter really posting to a collector on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from citadel.config.sections import TracingSettings
from citadel.tracing import Tracing, traces_url


async def test_tracing_off_builds_no_provider_and_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a tracer provider was built with tracing off")

    monkeypatch.setattr(TracerProvider, "__init__", refuse)
    tracing = Tracing(TracingSettings(), "gateway")
    assert not tracing.configured
    tracing.open()
    tracer = tracing.tracer
    assert not tracer.enabled
    # One shared do-nothing span for every call: nothing is allocated per request.
    assert tracer.span("admission") is tracer.span("cache", {"a": 1})
    with tracer.span("admission") as span:
        assert not span.is_recording()
    assert tracer.headers() == ()
    assert tracer.current() is None
    assert tracer.record("engine.queue", 1.0, 2.0) is None
    await tracing.aclose()


async def test_spans_nest_and_the_traceparent_names_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingSettings(), "gateway", exporter=exporter)
    tracing.open()
    tracer = tracing.tracer
    with tracer.span("gateway") as outer, tracer.span("upstream attempt", {"citadel.attempt": 1}) as inner:
        headers = dict(tracer.headers())
        context = inner.get_span_context()
        # What a model service does with that header: its server span continues the trace.
        with tracer.server_span("POST /v1/chat/completions", headers.items()):
            pass
    await tracing.aclose()
    traceparent = headers[b"traceparent"].decode()
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, trace_id, span_id) == ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"gateway", "upstream attempt", "POST /v1/chat/completions"}
    assert spans["upstream attempt"].parent is not None
    assert spans["upstream attempt"].parent.span_id == outer.get_span_context().span_id
    served = spans["POST /v1/chat/completions"]
    assert served.parent is not None
    assert served.parent.span_id == context.span_id
    assert served.context is not None
    assert served.context.trace_id == context.trace_id
    assert spans["upstream attempt"].attributes == {"citadel.attempt": 1}
    assert spans["gateway"].resource.attributes["service.name"] == "citadel-gateway"


def test_traces_url_adds_the_signal_path_only_to_a_bare_endpoint() -> None:
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/custom/traces") == "http://collector:4318/custom/traces"


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each decoded export request and its headers."""

    received: list[tuple[str, dict[str, str], ExportTraceServiceRequest]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, request))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, str], ExportTraceServiceRequest]]]]:
    received: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


async def test_otlp_exporter_posts_protobuf_spans_to_the_collector(
    collector: tuple[str, list[tuple[str, dict[str, str], ExportTraceServiceRequest]]],
) -> None:
    url, received = collector
    settings = TracingSettings(
        endpoint=url, headers={"authorization": "Bearer collector-token"}, service_name="acme"
    )
    tracing = Tracing(settings, "gateway")
    assert tracing.configured
    tracing.open()
    with tracing.tracer.span("chat smollm2-135m-instruct", {"gen_ai.operation.name": "chat"}):
        pass
    await tracing.aclose()  # flushes the batch
    assert len(received) == 1
    path, headers, request = received[0]
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["authorization"] == "Bearer collector-token"
    (resource_spans,) = request.resource_spans
    service = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert service["service.name"] == "acme-gateway"
    (span,) = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert span.name == "chat smollm2-135m-instruct"
    assert {kv.key: kv.value.string_value for kv in span.attributes} == {"gen_ai.operation.name": "chat"}


def test_collector_headers_are_secrets_in_dumps() -> None:
    settings = TracingSettings(endpoint="http://127.0.0.1:4318", headers={"authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.model_dump_json()
