"""The gateway app factory: one lifespan opens and closes every client the gateway uses."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from citadel.cache import ResponseCache
from citadel.cache.admin_routes import cache_admin_router
from citadel.cache.semantic import SemanticCache
from citadel.config import CitadelSettings, load_settings, resolve_config_path
from citadel.discovery.gateway import watch_discovery
from citadel.errors import install_error_handlers
from citadel.events.feedback_routes import feedback_router
from citadel.events.gateway import GatewayEvents
from citadel.gateway.breaker import Clock
from citadel.gateway.deps import (
    gateway_events,
    gateway_governance,
    gateway_response_cache,
    gateway_vectors,
    require_admin,
    require_api_key,
    require_vectors,
)
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.fast_path import GatewayApp
from citadel.gateway.finish import Finisher
from citadel.gateway.forwarding import Forwarder
from citadel.gateway.health import HealthMonitor
from citadel.gateway.log_format import configure_gateway_logging
from citadel.gateway.messages_api.errors import refusal_for_path
from citadel.gateway.messages_api.routes import router as messages_router
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.model_calls import ModelCalls
from citadel.gateway.multiprocess import multiprocess_dir, retire_worker
from citadel.gateway.request_id import current_request_id
from citadel.gateway.responses_api.routes import router as responses_router
from citadel.gateway.routes import router
from citadel.gateway.routing import Router
from citadel.gateway.services import GatewayServices
from citadel.gateway.tracing_middleware import TracedGatewayApp
from citadel.gateway.upstream import open_client
from citadel.governance import Governance
from citadel.governance.admin_routes import admin_router
from citadel.http_body import BodyGuard, gateway_body_limit
from citadel.live import LiveServices, install_live
from citadel.reload.admin_routes import config_admin_router
from citadel.reload.follower import ConfigFollower
from citadel.reload.state import run_dir
from citadel.tracing import Tracing
from citadel.vectors import open_vectors
from citadel.vectors.routes import vectors_router

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)
# The garbage collector's thresholds while the gateway serves (young, middle, old generations).
GC_THRESHOLDS = (20_000, 50, 100)


def create_gateway_app(
    settings: CitadelSettings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.monotonic,
    span_exporter: SpanExporter | None = None,
    config_path: Path | None = None,
) -> FastAPI:
    """The OpenAI-compatible gateway for the models in ``settings``.

    ``registry`` receives the metrics (a fresh one by default); ``clock`` drives the circuit breakers, so
    that tests can move time by hand; ``span_exporter`` receives the traces instead of OTLP (tests);
    ``config_path``, the file ``settings`` came from, is the baseline a hot reload diffs against.

    >>> app = create_gateway_app(load_settings("config/citadel.yaml"))  # doctest: +SKIP
    """
    gateway = settings.gateway
    tracing = Tracing(settings.tracing, "gateway", exporter=span_exporter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics_dir = multiprocess_dir()
        metrics = GatewayMetrics(registry or CollectorRegistry(), multiprocess_dir=metrics_dir)
        directory = ModelDirectory(settings.models, gateway, metrics, clock=clock)
        async with AsyncExitStack() as stack:
            tracing.open()  # first in, last out: spans of the shutdown are still exported
            stack.push_async_callback(tracing.aclose)
            client = open_client(gateway)  # every call to a replica: requests, probes, embeddings
            stack.push_async_callback(client.aclose)
            monitor = HealthMonitor(
                directory, client, interval_s=gateway.health_interval_s, timeout_s=gateway.health_timeout_s
            )
            await monitor.probe_all()  # know the replicas' state before the first request
            monitor.start()
            stack.push_async_callback(monitor.stop)
            # Replicas registered in etcd join their models' pools, next to the configured ones.
            discovery = await stack.enter_async_context(
                watch_discovery(settings, directory, monitor, metrics, clock=clock)
            )
            events = GatewayEvents.open(settings, registry=metrics.registry)  # None: events.sink none
            if events is not None:
                stack.push_async_callback(events.aclose)  # after governance: its last events still go
            governance = await Governance.open(settings, registry=metrics.registry, events=events)
            stack.push_async_callback(governance.aclose)
            cache = await ResponseCache.open(settings, registry=metrics.registry)
            stack.push_async_callback(cache.aclose)
            # Embeddings for retrieval and the semantic cache take the road every call to a model takes.
            calls = ModelCalls(
                client, directory, monitor, metrics, max_attempts=gateway.max_attempts, tracer=tracing.tracer
            )
            vectors = await open_vectors(settings, calls)
            semantic = None
            if vectors is not None:
                stack.push_async_callback(vectors.aclose)
                if settings.cache.semantic.enabled:
                    semantic = await SemanticCache.open(settings, vectors, registry=metrics.registry)
            app.state.services = GatewayServices(
                settings=settings,
                metrics=metrics,
                tracer=tracing.tracer,  # for the request path's child spans and upstream headers
                client=client,
                directory=directory,
                monitor=monitor,
                model_calls=calls,
                routing=Router(directory, gateway.routes, metrics, splits=gateway.splits),
                forwarder=Forwarder(
                    client,
                    directory,
                    monitor,
                    metrics,
                    max_attempts=gateway.max_attempts,
                    tracer=tracing.tracer,
                ),
                finisher=Finisher(
                    metrics,
                    governance,
                    cache,
                    semantic,
                    access_log=gateway.access_log,
                    tracer=tracing.tracer,
                    events=events,
                ),
                governance=governance,
                response_cache=cache,
                vectors=vectors,
                semantic_cache=semantic,
                started_at=int(time.time()),
                events=events,
                discovery=discovery,
            )
            # Hot reloads reach this worker through the run directory (see citadel.reload).
            follower = ConfigFollower(app.state, run_dir(settings), clock=clock, config_path=config_path)
            await follower.start()
            stack.push_async_callback(follower.aclose)
            app.state.live = LiveServices.build(app.state)  # /graphql, /ws, /stream, /ui
            if events is not None:
                events.config_loaded()
                events.start_snapshots(
                    directory, lambda: {"events": events.publisher.queued, "request_log": governance.queued}
                )
            # Everything built so far (modules, clients, settings) lives as long as the process: frozen, the
            # garbage collector's full passes skip it. Unfrozen, each pass walked it all (about 0.1 s on this
            # machine), and requests stalled behind it.
            gc.collect()
            gc.freeze()
            # A request allocates a few hundred objects, nearly all freed by reference counting; at the
            # default threshold (700) the young generation was collected every couple of requests. Fewer,
            # larger young collections cost about 5% less CPU per request under load.
            thresholds = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLDS)
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)
                gc.unfreeze()  # collectable again once the clients close (a process may run several apps)
                retire_worker(metrics_dir)

    body_limit = gateway_body_limit(settings)
    title = "Citadel LLM Server API Gateway"
    if tracing.configured:
        app: GatewayApp = TracedGatewayApp(
            tracing=tracing,
            exclude_paths=settings.tracing.exclude_paths,
            title=title,
            lifespan=lifespan,
            max_body_bytes=body_limit,
        )
    else:
        app = GatewayApp(title=title, lifespan=lifespan, max_body_bytes=body_limit)
    # Innermost first: the body bound, then CORS (so that its refusals reach browsers), then the guard.
    app.add_middleware(BodyGuard, limit=body_limit, refuse=refusal_for_path)
    cors = gateway.cors
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors.allow_origins,
        allow_methods=cors.allow_methods,
        allow_headers=cors.allow_headers,
        allow_credentials=cors.allow_credentials,
    )
    install_error_handlers(app, request_id=current_request_id.get)
    app.include_router(router)
    app.include_router(responses_router)  # /v1/responses (and GET, DELETE of stored ones)
    app.include_router(messages_router)  # /v1/messages, /v1/messages/count_tokens (Anthropic's API)
    app.include_router(
        admin_router(gateway_governance)
    )  # /admin/keys, /admin/usage, /admin/audit (admin key)
    app.include_router(config_admin_router(dependencies=[Depends(require_admin)]))  # /admin/config
    app.include_router(feedback_router(gateway_governance, gateway_events))  # POST /v1/feedback
    app.include_router(cache_admin_router(gateway_response_cache, dependencies=[Depends(require_admin)]))
    app.include_router(
        vectors_router(gateway_vectors, dependencies=[Depends(require_api_key), Depends(require_vectors)])
    )
    install_live(app, settings)
    return app


def gateway_app_from_environment() -> FastAPI:
    """Factory for uvicorn's worker processes: the config path comes from ``CITADEL_CONFIG``."""
    settings = load_settings()
    configure_gateway_logging(settings.log_level, settings.gateway.log_format)
    return create_gateway_app(settings, config_path=resolve_config_path().resolve())
