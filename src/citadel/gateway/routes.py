"""The gateway's HTTP routes: the OpenAI surface, health and metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from citadel.embedding_service.schemas import EmbeddingRequest
from citadel.gateway.openapi import CHAT_RESPONSES, COMPLETION_RESPONSES, EMBEDDING_RESPONSES
from citadel.gateway.request_path import complete
from citadel.gateway.services import ServicesDep, request_services
from citadel.model_service.schemas import ChatCompletionRequest, CompletionRequest

router = APIRouter()


async def _forward(request: Request, endpoint: str) -> Response:
    # Reached only by requests with an Origin header (CORS); the rest are answered by GatewayApp. The typed
    # body parameters document the request schemas; the bytes are forwarded as they came.
    return await complete(request_services(request), endpoint, await request.body(), request.headers)


@router.post("/v1/chat/completions", responses=CHAT_RESPONSES)
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
    """OpenAI's chat completions, forwarded to a replica of ``model``."""
    return await _forward(request, "/v1/chat/completions")


@router.post("/v1/completions", responses=COMPLETION_RESPONSES)
async def completions(request: Request, body: CompletionRequest) -> Response:
    """OpenAI's (legacy) text completions, forwarded to a replica of ``model``."""
    return await _forward(request, "/v1/completions")


@router.post("/v1/embeddings", responses=EMBEDDING_RESPONSES)
async def embeddings(request: Request, body: EmbeddingRequest) -> Response:
    """OpenAI's embeddings, forwarded to a replica of ``model``."""
    return await _forward(request, "/v1/embeddings")


@router.get("/v1/models")
async def list_models(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Healthy models (and virtual ones) the caller's key may use, in the blueprint's shape."""
    created = services.started_at
    principal = await services.governance.authenticate(request.headers.get("authorization"))
    names = [pool.name for pool in services.directory.healthy()] + services.routing.available_virtual_models()
    names = [name for name in names if principal.allows(name)]
    data = [{"id": name, "object": "model", "created": created, "owned_by": "citadel-ai"} for name in names]
    return {"object": "list", "data": data}


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    """``healthy`` when every model is, ``degraded`` when some are, ``unhealthy`` (503) when none is."""
    pools = services.directory.pools()
    healthy = [pool.name for pool in pools if pool.healthy]
    unhealthy = [pool.name for pool in pools if not pool.healthy]
    if not unhealthy:
        status = "healthy"
    elif healthy:
        status = "degraded"
    else:
        status = "unhealthy"
    models = {
        pool.name: {
            "status": "healthy" if pool.healthy else "unhealthy",
            "url": pool.replicas[0].base_url,
            "last_checked": max((r.last_checked or 0.0 for r in pool.replicas), default=None) or None,
            "error": next((r.last_error for r in pool.replicas if r.last_error), None),
            "replicas": [
                {
                    "url": replica.base_url,
                    "status": "healthy" if replica.healthy else "unhealthy",
                    "breaker": replica.breaker.state.name.lower(),
                    "outstanding": replica.outstanding,
                    "error": replica.last_error,
                }
                for replica in pool.replicas
            ],
        }
        for pool in pools
    }
    body = {
        "status": status,
        "healthy_models": healthy,
        "unhealthy_models": unhealthy,
        "models": models,
        "timestamp": time.time(),
    }
    if services.discovery is not None:  # etcd reachable, or the last known replicas kept
        body["discovery"] = services.discovery.status()
    return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/")
async def root() -> dict[str, str]:
    from citadel import __version__

    return {"message": "Citadel LLM Server API Gateway", "version": __version__}
