"""The gateway's services: built once in the lifespan, kept as one typed value, read through one accessor.

``create_gateway_app``'s lifespan opens every client and builds every service, then stores them together
as :class:`GatewayServices` on ``app.state.services``. Request code never reads ``app.state`` itself: the
fast path calls :func:`services_of`, FastAPI routes and dependencies take :data:`ServicesDep`::

    @router.get("/v1/models")
    async def list_models(services: ServicesDep) -> dict[str, Any]:
        names = [pool.name for pool in services.directory.healthy()]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State

from citadel.cache.semantic import SemanticCache
from citadel.cache.service import ResponseCache
from citadel.config import CitadelSettings
from citadel.discovery.watcher import DiscoveryWatcher
from citadel.events.gateway import GatewayEvents
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.finish import Finisher
from citadel.gateway.forwarding import Forwarder
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.model_calls import ModelCalls
from citadel.gateway.routing import Router
from citadel.gateway.upstream_pool import UpstreamClient
from citadel.governance import Governance
from citadel.tracing import RequestTracer
from citadel.vectors import Vectors

__all__ = ["GatewayServices", "ServicesDep", "request_services", "services_of"]


@dataclass(frozen=True, slots=True)
class GatewayServices:
    """Everything a request may need, for as long as the app runs (the lifespan closes what it opened).

    ``vectors`` and ``semantic_cache`` are ``None`` when the vector store is off, ``events`` when
    ``events.sink`` is ``none``; ``started_at`` (epoch seconds) is the ``created`` of ``/v1/models``;
    ``discovery`` is the etcd watcher, if discovery is on.
    """

    settings: CitadelSettings
    metrics: GatewayMetrics
    tracer: RequestTracer
    client: UpstreamClient
    directory: ModelDirectory
    monitor: HealthMonitor
    model_calls: ModelCalls
    routing: Router
    forwarder: Forwarder
    finisher: Finisher
    governance: Governance
    response_cache: ResponseCache
    vectors: Vectors | None
    semantic_cache: SemanticCache | None
    started_at: int
    events: GatewayEvents | None = None  # events.sink: kafka
    discovery: DiscoveryWatcher | None = None  # None: discovery off (only configured replicas)


def services_of(state: State) -> GatewayServices:
    """The services the lifespan stored on ``state`` (a clear error outside a running lifespan)."""
    services = getattr(state, "services", None)
    if not isinstance(services, GatewayServices):
        raise RuntimeError("the gateway's services are built by its lifespan, which has not run")
    return services


def request_services(request: Request) -> GatewayServices:
    """:func:`services_of` the app serving ``request`` (a FastAPI dependency)."""
    return services_of(request.app.state)


ServicesDep = Annotated[GatewayServices, Depends(request_services)]
