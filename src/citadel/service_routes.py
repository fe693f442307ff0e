"""``/health`` and ``/metrics`` as every Citadel model service (chat or embedding) serves them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from citadel.engines.service_control import ServiceControl

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Response:
    # As vLLM: 200 with an empty body once the model is loaded. The lifespan loads it (and runs the engine's
    # self-test) before the port opens, so reaching this route means the model was ready; it stops being
    # ready only when the engine died, and then the process is about to exit.
    control: ServiceControl | None = getattr(request.app.state, "control", None)
    if control is not None and control.failure is not None:
        return JSONResponse({"status": "unhealthy", "reason": control.failure}, status_code=503)
    return Response(status_code=200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
