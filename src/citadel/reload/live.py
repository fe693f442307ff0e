"""A gateway worker's side of a reload: new services from the new settings, swapped in between requests.

``GatewayServices`` is one frozen value built by the lifespan; a reload builds the next one and replaces it on
``app.state`` in one assignment. A request holds the services it started with until it ends, so the
requests in flight finish on the old directory while new ones take the new. What lives as long as the
process is kept (the upstream client, the database, Redis, the vector store, the metrics); what the config
shapes is rebuilt (directory, health monitor, router, forwarder, finisher) or told (governance's tiers and
prices, the cache policy, the retrieval defaults). Replicas that stay keep their state (see
``ModelDirectory(previous=...)``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

from citadel.config import CitadelSettings
from citadel.discovery.feed import DirectoryFeed
from citadel.gateway.breaker import Clock
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.finish import Finisher
from citadel.gateway.forwarding import Forwarder
from citadel.gateway.health import HealthMonitor
from citadel.gateway.model_calls import ModelCalls
from citadel.gateway.routing import Router
from citadel.gateway.services import GatewayServices

logger = logging.getLogger(__name__)


async def rebuild_services(
    old: GatewayServices, settings: CitadelSettings, *, clock: Clock
) -> GatewayServices:
    """The services for ``settings``, sharing ``old``'s long-lived clients; its health monitor already
    probed every replica (so that a new replica is known before the first request reaches it) and runs.
    The caller swaps them in and stops ``old.monitor``."""
    gateway, metrics, tracer = settings.gateway, old.metrics, old.tracer
    directory = ModelDirectory(settings.models, gateway, metrics, clock=clock, previous=old.directory)
    monitor = HealthMonitor(
        directory, old.client, interval_s=gateway.health_interval_s, timeout_s=gateway.health_timeout_s
    )
    if old.discovery is not None:  # the replicas found in etcd join the new directory before it serves
        old.discovery.retarget(DirectoryFeed(directory, monitor, gateway, metrics, clock=clock))
    await monitor.probe_all()
    monitor.start()
    calls = ModelCalls(
        old.client, directory, monitor, metrics, max_attempts=gateway.max_attempts, tracer=tracer
    )
    old.governance.reconfigure(settings)
    old.response_cache.reconfigure(settings)
    if old.vectors is not None:
        old.vectors.reconfigure(settings)
    for gone in {pool.name for pool in old.directory.pools()} - {pool.name for pool in directory.pools()}:
        with contextlib.suppress(KeyError):
            metrics.health.remove(gone)  # a removed model is no longer reported as down
    logging.getLogger().setLevel(settings.log_level)
    return dataclasses.replace(
        old,
        settings=settings,
        directory=directory,
        monitor=monitor,
        model_calls=calls,
        routing=Router(directory, gateway.routes, metrics, splits=gateway.splits),
        forwarder=Forwarder(
            old.client, directory, monitor, metrics, max_attempts=gateway.max_attempts, tracer=tracer
        ),
        finisher=Finisher(
            metrics,
            old.governance,
            old.response_cache,
            old.semantic_cache,
            access_log=gateway.access_log,
            tracer=tracer,
        ),
    )
