"""The gateway app factory: one lifespan opens and closes every client the gateway uses."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings, load_settings
from citadel.errors import install_error_handlers
from citadel.gateway.breaker import Clock
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.fast_path import GatewayApp
from citadel.gateway.forwarding import Forwarder
from citadel.gateway.health import HealthMonitor
from citadel.gateway.log_format import configure_gateway_logging
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.multiprocess import multiprocess_dir, retire_worker
from citadel.gateway.routes import router
from citadel.gateway.routing import Router
from citadel.gateway.upstream import open_session

logger = logging.getLogger(__name__)


def create_gateway_app(
    settings: CitadelSettings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.monotonic,
) -> FastAPI:
    """The OpenAI-compatible gateway for the models in ``settings``.

    ``registry`` receives the metrics (a fresh one by default); ``clock`` drives the circuit breakers, so
    that tests can move time by hand.

    >>> app = create_gateway_app(load_settings("config/citadel.yaml"))  # doctest: +SKIP
    """
    gateway = settings.gateway

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics_dir = multiprocess_dir()
        metrics = GatewayMetrics(registry or CollectorRegistry(), multiprocess_dir=metrics_dir)
        directory = ModelDirectory(settings.models, gateway, metrics, clock=clock)
        async with open_session(gateway) as session:
            monitor = HealthMonitor(
                directory, session, interval_s=gateway.health_interval_s, timeout_s=gateway.health_timeout_s
            )
            await monitor.probe_all()  # know the replicas' state before the first request
            monitor.start()
            app.state.metrics = metrics
            app.state.directory = directory
            app.state.routing = Router(directory, gateway.routes, metrics)
            app.state.forwarder = Forwarder(
                session,
                directory,
                monitor,
                metrics,
                max_attempts=gateway.max_attempts,
                access_log=gateway.access_log,
            )
            app.state.started_at = int(time.time())
            if not settings.auth.enabled:
                logger.warning(
                    "authentication is off (auth.enabled: false): anyone who reaches the port may use it"
                )
            try:
                yield
            finally:
                await monitor.stop()
                retire_worker(metrics_dir)

    app = GatewayApp(title="Citadel LLM Server API Gateway", lifespan=lifespan)
    cors = gateway.cors
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors.allow_origins,
        allow_methods=cors.allow_methods,
        allow_headers=cors.allow_headers,
        allow_credentials=cors.allow_credentials,
    )
    install_error_handlers(app)
    app.include_router(router)
    return app


def gateway_app_from_environment() -> FastAPI:
    """Factory for uvicorn's worker processes: the config path comes from ``CITADEL_CONFIG``."""
    settings = load_settings()
    configure_gateway_logging(settings.log_level, settings.gateway.log_format)
    return create_gateway_app(settings)
