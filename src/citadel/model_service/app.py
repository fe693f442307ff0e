"""The built-in model service: one GGUF model on llama.cpp behind vLLM's OpenAI-compatible API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from citadel import service_routes
from citadel.config import CitadelSettings
from citadel.errors import install_error_handlers
from citadel.http_body import BodyGuard, body_limit
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.routes import router
from citadel.model_service.runner import EngineRunner
from citadel.model_service.scheduler import Scheduler
from citadel.model_service.service import ModelService
from citadel.model_source import resolve_model_source

logger = logging.getLogger(__name__)


def create_model_service_app(settings: CitadelSettings, model_name: str) -> FastAPI:
    """The app serving ``model_name`` from ``settings``; the model loads in the lifespan, before serving.

    >>> app = create_model_service_app(load_settings("config/citadel.yaml"), "smollm2-135m-instruct")
    ... # doctest: +SKIP
    """
    model = settings.model(model_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path = resolve_model_source(model.source)
        logger.info("loading %s from %s", model.name, path)
        gguf = await anyio.to_thread.run_sync(GgufModel, path)
        registry = CollectorRegistry()
        metrics = ModelServiceMetrics(registry, model.name)
        scheduler = await anyio.to_thread.run_sync(Scheduler, gguf, model.limits, model.threads, metrics)
        scheduler.start()
        runner = EngineRunner(scheduler)
        app.state.metrics_registry = registry
        app.state.model_service = ModelService(model.name, gguf, model.limits.max_model_len, runner, metrics)
        logger.info(
            "%s ready on %s:%d (%d sequences at once, %d tokens per step)",
            model.name,
            model.host,
            model.port,
            model.limits.max_num_seqs,
            model.limits.max_num_batched_tokens,
        )
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(runner.close)
            gguf.close()

    app = FastAPI(title=f"Citadel model service: {model.name}", lifespan=lifespan)
    app.add_middleware(BodyGuard, limit=body_limit(model.limits.max_model_len))
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(service_routes.router)
    return app
