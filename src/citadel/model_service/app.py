"""The built-in model service: one GGUF model on llama.cpp behind vLLM's OpenAI-compatible API."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from citadel import service_routes
from citadel.config import CitadelSettings, LlamaCppModel, ModelSettings, as_backend
from citadel.discovery.registrar import registered
from citadel.discovery.service import service_registration
from citadel.engines.service_control import ReportedFailure, ServiceControl
from citadel.errors import install_error_handlers
from citadel.exit_codes import EXIT_ENGINE_DIED, EXIT_SELF_TEST_FAILED
from citadel.http_body import BodyGuard, body_limit
from citadel.model_service import tokenize
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.routes import router
from citadel.model_service.runner import EngineRunner
from citadel.model_service.scheduler import Scheduler
from citadel.model_service.self_test import SelfTestFailed, SelfTestReport, run_self_test
from citadel.model_service.service import ModelService
from citadel.model_source import resolve_model_source
from citadel.tracing import ServerSpans, Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)


def create_model_service_app(
    settings: CitadelSettings,
    model: str | ModelSettings,
    *,
    control: ServiceControl | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The app serving ``model`` (a name in ``settings``, or one service's settings, e.g. a replica's).

    The model loads and passes its self-test in the lifespan, before the port opens. ``control`` is how
    the app asks the process to exit (self-test failed, engine died); ``/health`` reads it too.
    ``span_exporter`` receives the traces instead of OTLP (tests).

    >>> app = create_model_service_app(load_settings("config/citadel.yaml"), "smollm2-135m-instruct")
    ... # doctest: +SKIP
    """
    options = as_backend(settings.model(model) if isinstance(model, str) else model, LlamaCppModel)
    service_control = control or ServiceControl()
    tracing = Tracing(settings.tracing, options.name, exporter=span_exporter)

    def engine_died(reason: str) -> None:  # on the engine thread
        logger.error(
            "the engine of %s died (%s); exiting with code %d so that it is restarted",
            options.name, reason, EXIT_ENGINE_DIED,
        )  # fmt: skip
        service_control.fail(EXIT_ENGINE_DIED, f"the engine died: {reason}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path = resolve_model_source(options.source)
        logger.info("loading %s from %s", options.name, path)
        gguf = await anyio.to_thread.run_sync(
            functools.partial(GgufModel, path, extra_buffer_types=options.extra_buffer_types)
        )
        registry = CollectorRegistry()
        metrics = ModelServiceMetrics(registry, options.name)
        scheduler = await anyio.to_thread.run_sync(
            functools.partial(Scheduler, gguf, options.limits, options.threads, metrics, on_death=engine_died)
        )
        await _start_after_self_test(gguf, scheduler, options, service_control)
        runner = EngineRunner(scheduler)
        tracing.open()
        app.state.metrics_registry = registry
        app.state.model_service = ModelService(
            options.name, gguf, options.limits.max_model_len, runner, metrics, tracing.tracer,
            max_choices=options.limits.max_num_seqs,
        )  # fmt: skip
        logger.info(
            "%s ready on %s:%d (%d sequences at once, %d tokens per step)",
            options.name,
            options.host,
            options.port,
            options.limits.max_num_seqs,
            options.limits.max_num_batched_tokens,
        )
        entry = service_registration(settings.discovery, options, options.limits.max_num_seqs)
        try:
            async with registered(settings.discovery, entry):  # in etcd while it serves, if discovery is on
                yield
        finally:
            await anyio.to_thread.run_sync(runner.close)
            gguf.close()
            await tracing.aclose()

    app = FastAPI(title=f"Citadel model service: {options.name}", lifespan=lifespan)
    app.state.control = service_control
    app.add_middleware(BodyGuard, limit=body_limit(options.limits.max_model_len))
    if tracing.configured:  # outermost, so that the span covers the body bound's refusals too
        app.add_middleware(ServerSpans, tracing=tracing, exclude_paths=settings.tracing.exclude_paths)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(tokenize.router)  # /tokenize (a prompt, or messages through the chat template)
    app.include_router(service_routes.router)
    return app


async def _start_after_self_test(
    gguf: GgufModel, scheduler: Scheduler, options: LlamaCppModel, control: ServiceControl
) -> None:
    """Start the engine thread, which first decodes a real batch; on failure log one line and give up
    (restarting cannot help)."""
    self_test = functools.partial(run_self_test, gguf, extra_buffer_types=options.extra_buffer_types)
    try:
        report = await asyncio.wrap_future(scheduler.start(first=self_test))
    except SelfTestFailed as failure:
        logger.error("%s: %s", options.name, failure.line)
        control.fail(EXIT_SELF_TEST_FAILED, failure.line)
        await anyio.to_thread.run_sync(scheduler.stop)
        gguf.close()
        raise ReportedFailure(failure.line) from None
    assert isinstance(report, SelfTestReport)
    logger.info("%s self-test %s", options.name, report.line)
