"""The embedding model service app: the model loads in the lifespan, before the port opens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from citadel import service_routes
from citadel.config import CitadelSettings, EmbeddingModel, ModelSettings, as_backend
from citadel.discovery.registrar import registered
from citadel.discovery.service import service_registration
from citadel.embedding_service.batcher import DynamicBatcher
from citadel.embedding_service.encoder import SentenceEncoder
from citadel.embedding_service.metrics import EmbeddingMetrics
from citadel.embedding_service.routes import router
from citadel.embedding_service.service import EmbeddingService
from citadel.engines.service_control import ServiceControl
from citadel.errors import install_error_handlers
from citadel.exit_codes import EXIT_ENGINE_DIED
from citadel.http_body import BodyGuard, body_limit
from citadel.model_source import resolve_model_source
from citadel.tracing import ServerSpans, Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)


def create_embedding_service_app(
    settings: CitadelSettings,
    model_name: str | ModelSettings,
    *,
    control: ServiceControl | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The app serving the embedding model ``model_name`` (or these settings); ``control`` and
    ``span_exporter`` as for chat."""
    model = as_backend(
        settings.model(model_name) if isinstance(model_name, str) else model_name, EmbeddingModel
    )
    service_control = control or ServiceControl()
    tracing = Tracing(settings.tracing, model.name, exporter=span_exporter)

    def batcher_died(reason: str) -> None:
        logger.error(
            "the batcher of %s died (%s); exiting with code %d so that it is restarted",
            model.name, reason, EXIT_ENGINE_DIED,
        )  # fmt: skip
        service_control.fail(EXIT_ENGINE_DIED, f"the embedding worker died: {reason}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path = resolve_model_source(model.source)
        encoder = await anyio.to_thread.run_sync(SentenceEncoder, path, model.threads)
        registry = CollectorRegistry()
        metrics = EmbeddingMetrics(registry, model.name)
        batcher = DynamicBatcher(
            encoder, metrics, model.limits.max_num_batched_tokens, model.limits.max_waiting, batcher_died
        )
        batcher.start()
        max_tokens = min(model.limits.max_model_len, encoder.max_tokens)
        app.state.metrics_registry = registry
        tracing.open()
        app.state.embedding_service = EmbeddingService(
            model.name, encoder, batcher, metrics, max_tokens, tracer=tracing.tracer
        )
        logger.info(
            "%s ready on %s:%d (%d dimensions)", model.name, model.host, model.port, encoder.dimensions
        )
        entry = service_registration(settings.discovery, model, model.limits.max_num_seqs)
        try:
            async with registered(settings.discovery, entry):  # in etcd while it serves, if discovery is on
                yield
        finally:
            await batcher.stop()
            await tracing.aclose()

    app = FastAPI(title=f"Citadel embedding service: {model.name}", lifespan=lifespan)
    app.state.control = service_control
    app.add_middleware(BodyGuard, limit=body_limit(model.limits.max_model_len))
    if tracing.configured:  # outermost, so that the span covers the body bound's refusals too
        app.add_middleware(ServerSpans, tracing=tracing, exclude_paths=settings.tracing.exclude_paths)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(service_routes.router)
    return app
