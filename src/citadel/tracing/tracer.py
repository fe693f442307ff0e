"""What request code calls to trace: spans that cost one attribute check when tracing is off.

A :class:`RequestTracer` is handed to whatever serves requests. Off (``enabled`` false) it holds no
OpenTelemetry tracer: :meth:`~RequestTracer.span` returns one shared do-nothing context manager,
:meth:`~RequestTracer.headers` an empty tuple, and nothing is allocated per request. Attribute names have
dots (``gen_ai.request.model``), so attributes are passed as a mapping; build it only when ``enabled``::

    with tracer.span("cache", {"citadel.cache.hit": hit} if tracer.enabled else None):
        ...
    forward(upstream, extra_headers=tracer.headers())  # the W3C traceparent of the current span
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

Attributes = Mapping[str, AttributeValue]
Context = otel_context.Context
_PROPAGATION_HEADERS: Final = (b"traceparent", b"tracestate")


class _NoSpan(AbstractContextManager[Span]):
    """The span of a tracer that is off: entering it yields OpenTelemetry's non-recording span."""

    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NO_SPAN: Final = _NoSpan()  # stateless, so one instance serves every request


class _AsgiHeaders(Getter[Mapping[str, str]]):
    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


class RequestTracer:
    """Spans for one process's requests; off when built without an OpenTelemetry tracer.

    >>> tracer = RequestTracer(None)
    >>> with tracer.span("admission") as span:
    ...     span.is_recording()
    False
    """

    def __init__(self, tracer: Tracer | None) -> None:
        self._tracer = tracer
        self.enabled = tracer is not None
        self._propagator = TraceContextTextMapPropagator()
        self._getter = _AsgiHeaders()
        # perf_counter to wall-clock nanoseconds, fixed once: spans recorded later line up to the nanosecond.
        self._wall_offset_ns = time.time_ns() - time.perf_counter_ns()

    def span(
        self,
        name: str,
        attributes: Attributes | None = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        end_on_exit: bool = True,
    ) -> AbstractContextManager[Span]:
        """A child of the current span, current while the block runs; an exception marks it an error.

        ``end_on_exit=False`` leaves ending it to the caller (a stream's attempt ends when the relay does).
        """
        if self._tracer is None:
            return _NO_SPAN
        return self._tracer.start_as_current_span(
            name, kind=kind, attributes=attributes, end_on_exit=end_on_exit
        )

    def server_span(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        """The span of a request served here: a child of the caller's ``traceparent`` if it sent one."""
        if self._tracer is None:
            return _NO_SPAN
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in headers
            if key in _PROPAGATION_HEADERS
        }
        parent = self._propagator.extract(carrier, getter=self._getter) if carrier else None
        return self._tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    def annotate(self, attributes: Attributes) -> None:
        """Set attributes on the current span (e.g. usage once an answer is complete)."""
        if self._tracer is not None:
            trace.get_current_span().set_attributes(attributes)

    def headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """``traceparent`` (and ``tracestate``) naming the current span, to send on an upstream call."""
        if self._tracer is None:
            return ()
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return tuple((key.encode("latin-1"), value.encode("latin-1")) for key, value in carrier.items())

    def current(self) -> Context | None:
        """The current context, to parent spans recorded later (e.g. an engine's phases); None when off."""
        return otel_context.get_current() if self._tracer is not None else None

    def record(
        self,
        name: str,
        start: float,
        end: float,
        attributes: Attributes | None = None,
        *,
        parent: Context | None = None,
        error: str | None = None,
    ) -> Context | None:
        """A span that already happened, from ``start`` to ``end`` on ``time.perf_counter``'s clock.

        Work done on another thread (an engine step) is timed there and recorded here afterwards, so that
        no OpenTelemetry call runs on that thread. ``error`` (a code) marks it failed. Returns the
        context of the new span, for its children.
        """
        if self._tracer is None:
            return None
        offset_ns = self._wall_offset_ns
        span = self._tracer.start_span(
            name, context=parent, attributes=attributes, start_time=offset_ns + int(start * 1e9)
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=offset_ns + int(end * 1e9))
        return trace.set_span_in_context(span, parent)
