"""The gateway's view of the registrations: listed once, then watched; the last known set kept on failure.

Each time the set changes, the whole set goes to the sink (the model directory's feed). When etcd cannot be
reached, or a watch ends, nothing is removed: the gateway keeps routing to the replicas it last knew of
(each still stops getting traffic at once when its connection is refused), reports ``connected: false`` in
``/health`` and ``citadel_discovery_connected 0``, and lists again every ``retry_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from citadel.config.scaling import DiscoverySettings
from citadel.discovery.etcd import EtcdClient, EtcdUnavailable, WatchEvent
from citadel.discovery.registration import Registration

logger = logging.getLogger(__name__)


class ReplicaSink(Protocol):
    def apply(self, registrations: list[Registration]) -> None:
        """Make the discovered replicas exactly ``registrations``."""
        ...


class DiscoveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connected = Gauge(
            "citadel_discovery_connected",
            "1 while the gateway's last list or watch of the discovery backend succeeded; 0 while it keeps "
            "its last known replicas.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.registrations = Gauge(
            "citadel_discovery_registrations",
            "Registrations the gateway knows of (the last known set while disconnected).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.failures = Counter(
            "citadel_discovery_failures_total",
            "Lists or watches of the discovery backend that failed.",
            registry=registry,
        )


class DiscoveryWatcher:
    """Started and stopped by the gateway's lifespan (``async with``)."""

    def __init__(
        self,
        client: EtcdClient,
        settings: DiscoverySettings,
        sink: ReplicaSink,
        metrics: DiscoveryMetrics,
    ) -> None:
        self._client = client
        self._settings = settings
        self._sink = sink
        self._metrics = metrics
        self._entries: dict[str, Registration] = {}
        self._rejected: set[str] = set()  # keys whose value is not a registration (logged once)
        self.connected = False
        self.last_error: str | None = None
        self.disconnected_since: float | None = time.time()
        self.synced = asyncio.Event()  # set after the first successful list
        self._task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        """For ``/health``."""
        return {
            "backend": self._settings.backend,
            "connected": self.connected,
            "registrations": len(self._entries),
            "error": self.last_error,
            "disconnected_since": None if self.connected else self.disconnected_since,
        }

    async def __aenter__(self) -> DiscoveryWatcher:
        self._task = asyncio.create_task(self._run(), name="citadel-discovery")
        self._task.add_done_callback(_report_crash)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._list_and_watch()
            except EtcdUnavailable as exc:
                self._lost(str(exc))
            await asyncio.sleep(self._settings.retry_interval_s)

    async def _list_and_watch(self) -> None:
        items, revision = await self._client.get_prefix(self._settings.prefix)
        self._entries = {}
        for item in items:
            self._take(item.key, item.value)
        self._publish()
        if not self.connected:
            logger.info("discovery: %d registrations in etcd", len(self._entries))
        self.connected, self.last_error, self.disconnected_since = True, None, None
        self._metrics.connected.set(1)
        self.synced.set()
        async for events in self._client.watch_prefix(self._settings.prefix, revision + 1):
            self._apply(events)

    def _apply(self, events: list[WatchEvent]) -> None:
        for event in events:
            if event.value is None:
                self._entries.pop(event.key, None)
            else:
                self._take(event.key, event.value)
        self._publish()

    def _take(self, key: str, value: bytes) -> None:
        try:
            self._entries[key] = Registration.decode(value)
        except ValueError as exc:
            self._entries.pop(key, None)
            if key not in self._rejected:
                self._rejected.add(key)
                logger.warning("discovery: ignored %s: %s", key, exc)

    def retarget(self, sink: ReplicaSink) -> None:
        """Feed ``sink`` from now on (a hot reload's new directory), starting with the set known now."""
        self._sink = sink
        sink.apply(list(self._entries.values()))

    def _publish(self) -> None:
        self._metrics.registrations.set(len(self._entries))
        self._sink.apply(list(self._entries.values()))

    def _lost(self, error: str) -> None:
        self._metrics.failures.inc()
        self._metrics.connected.set(0)
        if self.connected or self.last_error is None:
            logger.warning(
                "discovery: etcd unreachable, keeping the %d replicas last known: %s",
                len(self._entries),
                error,
            )
            self.disconnected_since = time.time()
        self.connected, self.last_error = False, error


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the discovery watcher stopped", exc_info=task.exception())
