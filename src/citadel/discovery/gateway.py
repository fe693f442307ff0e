"""The gateway's side of discovery, for its lifespan: watch the registrations, feed the directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from citadel.config import CitadelSettings
from citadel.discovery.etcd import EtcdClient
from citadel.discovery.feed import DirectoryFeed
from citadel.discovery.watcher import DiscoveryMetrics, DiscoveryWatcher
from citadel.gateway.breaker import Clock
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics


@contextlib.asynccontextmanager
async def watch_discovery(
    settings: CitadelSettings,
    directory: ModelDirectory,
    monitor: HealthMonitor,
    metrics: GatewayMetrics,
    *,
    clock: Clock,
) -> AsyncIterator[DiscoveryWatcher | None]:
    """The running watcher (None when ``discovery.backend`` is ``none``). The start waits for the first list
    up to ``discovery.timeout_s``, so that the first requests already see the registered replicas; an etcd
    that does not answer does not stop the gateway from starting with its configured replicas."""
    discovery = settings.discovery
    if discovery.backend != "etcd":
        yield None
        return
    feed = DirectoryFeed(directory, monitor, settings.gateway, metrics, clock=clock)
    async with (
        EtcdClient(discovery.endpoints, timeout_s=discovery.timeout_s) as client,
        DiscoveryWatcher(client, discovery, feed, DiscoveryMetrics(metrics.registry)) as watcher,
    ):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(discovery.timeout_s):
                await watcher.synced.wait()
        yield watcher
