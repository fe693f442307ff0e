"""The gateway's live state, read from its own objects: models, replicas, breakers, load, request rates.

One :class:`StatusReader` per feed keeps the previous totals, so that each snapshot carries the requests per
second and the mean latency since the one before (this process's counters; with several workers, each
worker's feed tells its own share).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Metric

from citadel.config.sections import LocalModel
from citadel.gateway.directory import ModelPool
from citadel.gateway.services import GatewayServices


def model_status(services: GatewayServices, pool: ModelPool) -> dict[str, Any]:
    """One model as the console and GraphQL show it."""
    settings = pool.settings
    local = settings if isinstance(settings, LocalModel) else None
    return {
        "name": pool.name,
        "status": "healthy" if pool.healthy else "unhealthy",
        "backend": settings.backend,
        "port": local.port if local is not None else None,
        "memory_limit": local.memory_limit if local is not None else None,
        "in_flight": pool.outstanding,
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


def health_status(services: GatewayServices) -> str:
    pools = services.directory.pools()
    healthy = sum(1 for pool in pools if pool.healthy)
    if healthy == len(pools):
        return "healthy"
    return "degraded" if healthy else "unhealthy"


@dataclass(slots=True)
class _Totals:
    at: float
    requests: dict[str, float]
    duration_sum: dict[str, float]
    duration_count: dict[str, float]


def _by_model(metric: Metric, sample_name: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for sample in metric.samples:
        if sample.name == sample_name:
            model = sample.labels.get("model", "")
            totals[model] = totals.get(model, 0.0) + sample.value
    return totals


class StatusReader:
    """Snapshots of the gateway for one feed (``/ws/metrics``, ``/stream/metrics``, a subscription)."""

    def __init__(self, services: GatewayServices) -> None:
        self._services = services
        self._last = self._totals()

    def _totals(self) -> _Totals:
        metrics = self._services.metrics
        requests: dict[str, float] = {}
        for metric in metrics.requests.collect():
            requests = _by_model(metric, "llm_requests_total")
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for metric in metrics.duration.collect():
            sums = _by_model(metric, "llm_request_duration_seconds_sum")
            counts = _by_model(metric, "llm_request_duration_seconds_count")
        return _Totals(time.monotonic(), requests, sums, counts)

    def snapshot(self) -> dict[str, Any]:
        """The state now, with rates since the previous snapshot."""
        services = self._services
        now = self._totals()
        last, self._last = self._last, now
        elapsed = max(now.at - last.at, 1e-9)
        models = []
        for pool in services.directory.pools():
            status = model_status(services, pool)
            name = pool.name
            done = now.requests.get(name, 0.0) - last.requests.get(name, 0.0)
            timed = now.duration_count.get(name, 0.0) - last.duration_count.get(name, 0.0)
            spent = now.duration_sum.get(name, 0.0) - last.duration_sum.get(name, 0.0)
            status["requests_total"] = int(now.requests.get(name, 0.0))
            status["requests_per_s"] = round(done / elapsed, 3)
            status["latency_ms"] = round(spent / timed * 1000, 1) if timed > 0 else None
            models.append(status)
        return {
            "type": "metrics",
            "timestamp": time.time(),
            "status": health_status(services),
            "requests_per_s": round(sum(m["requests_per_s"] for m in models), 3),
            "in_flight": sum(m["in_flight"] for m in models),
            "log_queue": services.governance.queued,  # request-log entries waiting for the database
            "models": models,
        }
