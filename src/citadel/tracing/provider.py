"""The process's tracer provider, built from ``tracing`` settings: opened and closed by an app's lifespan.

Off by default. With ``tracing.endpoint`` set, spans go in batches to an OTLP/HTTP collector from the
SDK's own thread (never the event loop). Off, no SDK object exists at all and the apps do not even wrap
their requests (see :attr:`Tracing.configured`), so tracing costs nothing when it is not wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from citadel.config.sections import TracingSettings
from citadel.tracing.tracer import RequestTracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: a bare ``http://host:4318`` gets OTLP's ``/v1/traces``.

    >>> traces_url("http://127.0.0.1:4318")
    'http://127.0.0.1:4318/v1/traces'
    """
    return endpoint.rstrip("/") + TRACES_PATH if urlsplit(endpoint).path in ("", "/") else endpoint


class Tracing:
    """Traces of one process (``component`` names it: ``gateway``, or a model's name).

    ``exporter`` replaces OTLP (tests pass the SDK's in-memory exporter); it is called as each span ends.

    >>> tracing = Tracing(settings.tracing, "gateway")  # doctest: +SKIP
    >>> tracing.open(); tracer = tracing.tracer; ...; await tracing.aclose()  # doctest: +SKIP
    """

    def __init__(
        self, settings: TracingSettings, component: str, *, exporter: SpanExporter | None = None
    ) -> None:
        self._settings = settings
        self._component = component
        self._exporter = exporter
        self._provider: TracerProvider | None = None
        self.tracer = RequestTracer(None)

    @property
    def configured(self) -> bool:
        """Whether spans are wanted at all: an endpoint is set, or an exporter was passed in."""
        return self._settings.endpoint is not None or self._exporter is not None

    def open(self) -> None:
        """Build the provider and its exporter (nothing when not configured)."""
        if not self.configured or self._provider is not None:
            return
        # Imported here: a process with tracing off never loads the SDK.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        settings = self._settings
        resource = Resource(
            {
                "service.name": f"{settings.service_name}-{self._component}",
                "service.namespace": settings.service_name,
            }
        )
        provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio))
        )
        if self._exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(self._exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(self._otlp_exporter()))
        self._provider = provider
        self.tracer = RequestTracer(provider.get_tracer("citadel"))

    def _otlp_exporter(self) -> SpanExporter:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        settings = self._settings
        assert settings.endpoint is not None
        return OTLPSpanExporter(
            endpoint=traces_url(settings.endpoint),
            headers={name: value.get_secret_value() for name, value in settings.headers.items()},
            timeout=settings.timeout_s,
            compression=Compression.NoCompression,
        )

    async def aclose(self) -> None:
        """Export what is still queued and stop the exporter (off the event loop: it may wait on I/O)."""
        provider, self._provider = self._provider, None
        self.tracer = RequestTracer(None)
        if provider is not None:
            await anyio.to_thread.run_sync(provider.shutdown)
