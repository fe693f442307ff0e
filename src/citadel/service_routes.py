"""``/health`` and ``/metrics`` as every Citadel model service (chat or embedding) serves them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

router = APIRouter()


@router.get("/health")
async def health() -> Response:
    # As vLLM: 200 with an empty body once the model is loaded. The lifespan loads it before the port
    # opens, so reaching this route means the model is ready.
    return Response(status_code=200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
