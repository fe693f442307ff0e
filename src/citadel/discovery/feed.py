"""Discovered replicas into the gateway's model directory, next to the configured ones.

A registration for a model the gateway has configured becomes a replica of that model's pool (weight 1,
the gateway's breaker and health thresholds), counted healthy at once (the service registers once it is
ready) and probed by the health monitor from then on like any other. A registration for a model the gateway
does not know is logged once and ignored: the model's settings (limits, timeouts, fallbacks) come from the
gateway's config. A replica whose registration went away leaves the pool; requests already on it finish.
The configured replicas are never touched.
"""

from __future__ import annotations

import logging

from citadel.config.sections import GatewaySettings
from citadel.discovery.registration import Registration
from citadel.gateway.breaker import Clock, make_breaker
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.replicas import BreakerTransitions, HealthThresholds, Replica

logger = logging.getLogger(__name__)


class DirectoryFeed:
    """The :class:`~citadel.discovery.watcher.ReplicaSink` of a gateway."""

    def __init__(
        self,
        directory: ModelDirectory,
        monitor: HealthMonitor,
        gateway: GatewaySettings,
        metrics: GatewayMetrics,
        *,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._monitor = monitor
        self._gateway = gateway
        self._metrics = metrics
        self._clock = clock
        self._thresholds = HealthThresholds(
            gateway.health_failure_threshold, gateway.health_recovery_threshold
        )
        self._ours: dict[tuple[str, str], Replica] = {}  # (model, url) -> a replica this feed added
        self._unknown: set[str] = set()

    def discovered(self, model: str) -> list[str]:
        return sorted(url for name, url in self._ours if name == model)

    def apply(self, registrations: list[Registration]) -> None:
        wanted: dict[tuple[str, str], Registration] = {}
        for entry in registrations:
            if self._directory.get(entry.model) is None:
                if entry.model not in self._unknown:
                    self._unknown.add(entry.model)
                    logger.warning("discovery: %s registered, but no such model is configured", entry.model)
                continue
            wanted[(entry.model, entry.url)] = entry
        for key in [key for key in self._ours if key not in wanted]:
            self._remove(*key)
        for key, entry in wanted.items():
            if key not in self._ours:
                self._add(entry)

    def _add(self, entry: Registration) -> None:
        pool = self._directory.get(entry.model)
        assert pool is not None
        if any(replica.base_url == entry.url for replica in pool.replicas):
            return  # configured already: the config's replica is the one
        replica = Replica(
            entry.model,
            entry.url,
            weight=1,
            thresholds=self._thresholds,
            breaker=make_breaker(
                self._gateway.circuit_breaker,
                clock=self._clock,
                on_transition=BreakerTransitions(entry.model, entry.url, self._metrics),
            ),
            metrics=self._metrics,
            served_model=entry.served_model,
        )
        replica.observe(True)  # it registered once ready; the monitor's probes and refusals take over
        self._ours[(entry.model, entry.url)] = replica
        pool.replicas = [*pool.replicas, replica]  # a new list: a loop over the old one is not disturbed
        self._monitor.watch(pool, replica)
        pool.refresh_health_gauge()
        logger.info("discovery: replica added", extra={"model": entry.model, "replica": entry.url})

    def _remove(self, model: str, url: str) -> None:
        replica = self._ours.pop((model, url))
        pool = self._directory.get(model)
        if pool is not None:
            pool.replicas = [other for other in pool.replicas if other is not replica]
            pool.refresh_health_gauge()
        self._monitor.unwatch(replica)
        for gauge in (self._metrics.replica_health, self._metrics.outstanding, self._metrics.breaker_state):
            gauge.remove(model, url)
        logger.info("discovery: replica removed", extra={"model": model, "replica": url})
