"""Guards for the gateway's own APIs (``/admin``, ``/v1/vectors``), as FastAPI dependencies, and where the
packages' routers (governance, cache, vectors) find their service: in the gateway's services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from citadel.cache.service import ResponseCache
from citadel.errors import ServiceUnavailable
from citadel.events.gateway import GatewayEvents
from citadel.gateway.services import ServicesDep, request_services
from citadel.governance import Governance
from citadel.vectors import Vectors


async def require_admin(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The admin key (401 without a valid key, 403 with a normal one)."""
    await services.governance.authorize_admin(authorization)


async def require_api_key(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Any valid API key (anyone, when authentication is off)."""
    await services.governance.authenticate(authorization)


async def require_vectors(request: Request) -> None:
    """503 when this gateway runs without a vector store (why is in its start-up log)."""
    gateway_vectors(request)


def gateway_governance(request: Request) -> Governance:
    return request_services(request).governance


def gateway_events(request: Request) -> GatewayEvents | None:
    return request_services(request).events


def gateway_response_cache(request: Request) -> ResponseCache:
    return request_services(request).response_cache


def gateway_vectors(request: Request) -> Vectors:
    vectors = request_services(request).vectors
    if vectors is None:
        raise ServiceUnavailable(
            "The vector store is off in this gateway (no embedding model configured, or local mode "
            "with several workers).",
            code="vector_store_unavailable",
        )
    return vectors
