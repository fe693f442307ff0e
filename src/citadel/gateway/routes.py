"""The gateway's HTTP routes: the OpenAI surface, health and metrics."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from citadel.gateway.directory import ModelDirectory
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.proxy import Proxy, parse_request

router = APIRouter()


def _directory(request: Request) -> ModelDirectory:
    directory: ModelDirectory = request.app.state.directory
    return directory


def _proxy(request: Request) -> Proxy:
    proxy: Proxy = request.app.state.proxy
    return proxy


DirectoryDep = Annotated[ModelDirectory, Depends(_directory)]
ProxyDep = Annotated[Proxy, Depends(_proxy)]


async def _forward(request: Request, endpoint: str, directory: ModelDirectory, proxy: Proxy) -> Response:
    parsed = parse_request(await request.body())
    return await proxy.forward(directory.resolve(parsed.model), endpoint, parsed)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, directory: DirectoryDep, proxy: ProxyDep) -> Response:
    return await _forward(request, "/v1/chat/completions", directory, proxy)


@router.post("/v1/completions")
async def completions(request: Request, directory: DirectoryDep, proxy: ProxyDep) -> Response:
    return await _forward(request, "/v1/completions", directory, proxy)


@router.get("/v1/models")
async def list_models(request: Request, directory: DirectoryDep) -> dict[str, Any]:
    """Healthy models only, in the blueprint's shape."""
    created: int = request.app.state.started_at
    data = [
        {"id": route.name, "object": "model", "created": created, "owned_by": "citadel-ai"}
        for route in directory.healthy()
    ]
    return {"object": "list", "data": data}


@router.get("/health")
async def health(directory: DirectoryDep) -> JSONResponse:
    """``healthy`` when every model is, ``degraded`` when some are, ``unhealthy`` (503) when none is."""
    routes = directory.routes()
    healthy = [route.name for route in routes if route.healthy]
    unhealthy = [route.name for route in routes if not route.healthy]
    if not unhealthy:
        status = "healthy"
    elif healthy:
        status = "degraded"
    else:
        status = "unhealthy"
    models = {
        route.name: {
            "status": "healthy" if route.healthy else "unhealthy",
            "url": route.base_url,
            "last_checked": route.last_checked,
            "error": route.last_error,
        }
        for route in routes
    }
    body = {
        "status": status,
        "healthy_models": healthy,
        "unhealthy_models": unhealthy,
        "models": models,
        "timestamp": time.time(),
    }
    return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    gateway_metrics: GatewayMetrics = request.app.state.metrics
    return Response(generate_latest(gateway_metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/")
async def root() -> dict[str, str]:
    from citadel import __version__

    return {"message": "Citadel LLM Server API Gateway", "version": __version__}
