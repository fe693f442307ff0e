"""What tracing costs per request: off (the default) against no tracing code at all, and on.

Measures, in microseconds per call, on one ASGI request answered by a trivial app:

- ``bare``: the app called directly (what the gateway does with tracing off: no wrapper is installed);
- ``wrapper, tracing off``: the ``ServerSpans`` wrapper whose tracer is off (its one check);
- ``server span, on``: a recorded server span exported to a do-nothing exporter;
- and ``RequestTracer.span`` / ``headers`` off and on (what the request path's child spans will cost).

    .venv/bin/python bench/tracing_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from starlette.types import Message, Receive, Scope, Send

from citadel.config.sections import TracingSettings
from citadel.tracing import RequestTracer, ServerSpans, Tracing

SCOPE: Scope = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [(b"content-type", b"application/json"), (b"host", b"gateway")],
}
START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"x-citadel-model", b"m")]}
BODY: Message = {"type": "http.response.body", "body": b"{}"}


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await send(START)
    await send(BODY)


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


async def _per_call_us(app: Callable[[Scope, Receive, Send], Awaitable[None]], n: int) -> float:
    for _ in range(n // 10):  # warm up
        await app(SCOPE, _receive, _send)
    started = time.perf_counter()
    for _ in range(n):
        await app(SCOPE, _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


def _sync_per_call_us(call: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def _span_call(tracer: RequestTracer) -> Callable[[], object]:
    def call() -> object:
        with tracer.span("cache"):
            return tracer.headers()

    return call


async def main(requests: int) -> None:
    off = Tracing(TracingSettings(), "bench")
    off.open()
    on = Tracing(TracingSettings(), "bench", exporter=_Discard())
    on.open()
    rows = [
        ("bare app (tracing off: no wrapper)", await _per_call_us(_app, requests)),
        ("ServerSpans wrapper, tracer off", await _per_call_us(ServerSpans(_app, off), requests)),
        ("ServerSpans wrapper, tracing on", await _per_call_us(ServerSpans(_app, on), requests)),
        ("tracer.span + headers, off", _sync_per_call_us(_span_call(off.tracer), requests)),
        ("tracer.span + headers, on", _sync_per_call_us(_span_call(on.tracer), requests)),
    ]
    await off.aclose()
    await on.aclose()
    for name, micros in rows:
        print(f"{name:40s} {micros:8.2f} µs/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
