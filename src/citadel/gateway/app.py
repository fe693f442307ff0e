"""The gateway app factory: one lifespan opens and closes every client the gateway uses."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings, load_settings
from citadel.errors import install_error_handlers
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.proxy import Proxy
from citadel.gateway.routes import router

logger = logging.getLogger(__name__)


def _http_client(settings: CitadelSettings) -> httpx.AsyncClient:
    gateway = settings.gateway
    return httpx.AsyncClient(
        timeout=httpx.Timeout(gateway.request_timeout_s, connect=gateway.connect_timeout_s),
        limits=httpx.Limits(max_connections=gateway.max_connections, max_keepalive_connections=64),
        # Model services are local or named in the config; a proxy from the environment must not intercept.
        trust_env=False,
    )


def create_gateway_app(settings: CitadelSettings) -> FastAPI:
    """The OpenAI-compatible gateway for the models in ``settings``.

    >>> app = create_gateway_app(load_settings("config/citadel.yaml"))  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = GatewayMetrics(CollectorRegistry())
        directory = ModelDirectory(settings.models)
        async with _http_client(settings) as client:
            monitor = HealthMonitor(
                directory,
                client,
                metrics,
                interval_s=settings.gateway.health_interval_s,
                timeout_s=settings.gateway.health_timeout_s,
            )
            await monitor.probe_all()  # know the models' state before the first request
            monitor.start()
            app.state.metrics = metrics
            app.state.directory = directory
            app.state.proxy = Proxy(client, monitor, metrics)
            app.state.started_at = int(time.time())
            if not settings.auth.enabled:
                logger.warning(
                    "authentication is off (auth.enabled: false): anyone who reaches the port may use it"
                )
            try:
                yield
            finally:
                await monitor.stop()

    app = FastAPI(title="Citadel LLM Server API Gateway", lifespan=lifespan)
    cors = settings.gateway.cors
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
    return create_gateway_app(load_settings())
