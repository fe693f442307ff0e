"""The built-in model service: one GGUF model on llama.cpp behind vLLM's OpenAI-compatible API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings
from citadel.errors import install_error_handlers
from citadel.model_service.llama_engine import LlamaEngine
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.routes import router
from citadel.model_service.runner import EngineRunner
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
        engine = await anyio.to_thread.run_sync(LlamaEngine, path, model)
        registry = CollectorRegistry()
        metrics = ModelServiceMetrics(registry, model.name)
        runner = EngineRunner(engine, metrics, max_waiting=model.limits.max_waiting)
        app.state.metrics_registry = registry
        app.state.model_service = ModelService(model.name, engine, runner, metrics)
        logger.info("%s ready on %s:%d", model.name, model.host, model.port)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(runner.close)

    app = FastAPI(title=f"Citadel model service: {model.name}", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    return app
