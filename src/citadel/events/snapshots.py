"""``system_metrics`` snapshots: every N seconds, what one gateway process saw since the last one.

Per model: request and error rates and latency quantiles of the requests finished in the window, requests
in flight, each replica's breaker state; and the depths of the process's queues (events, request log).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citadel.store.usage import percentile

if TYPE_CHECKING:
    from citadel.gateway.directory import ModelDirectory

logger = logging.getLogger(__name__)

_MOST_LATENCIES = 10000  # per model and window: a bound on memory, a sample beyond it


@dataclass
class _Window:
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)


class SnapshotWindow:
    """Counts of the requests finished since the last snapshot, by model (event-loop only)."""

    def __init__(self) -> None:
        self._models: dict[str, _Window] = {}
        self._since = time.monotonic()

    def add(self, model: str, status_code: int, latency_ms: float) -> None:
        window = self._models.get(model)
        if window is None:
            window = self._models[model] = _Window()
        window.requests += 1
        if status_code >= 400:
            window.errors += 1
        if len(window.latencies_ms) < _MOST_LATENCIES:
            window.latencies_ms.append(latency_ms)

    def take(self) -> tuple[float, dict[str, _Window]]:
        now = time.monotonic()
        elapsed, self._since = max(now - self._since, 1e-9), now
        models, self._models = self._models, {}
        return elapsed, models


def snapshot(
    window: SnapshotWindow, directory: ModelDirectory, queues: Callable[[], dict[str, int]]
) -> dict[str, Any]:
    elapsed, finished = window.take()
    models: dict[str, Any] = {}
    for pool in directory.pools():
        seen = finished.get(pool.name, _Window())
        latencies = sorted(seen.latencies_ms)
        models[pool.name] = {
            "requests_per_s": seen.requests / elapsed,
            "error_ratio": seen.errors / seen.requests if seen.requests else 0.0,
            "latency_p50_ms": percentile(latencies, 0.5),
            "latency_p95_ms": percentile(latencies, 0.95),
            "in_flight": pool.outstanding,
            "breakers": {replica.base_url: replica.breaker.state.name.lower() for replica in pool.replicas},
        }
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "window_s": elapsed,
        "models": models,
        "queues": queues(),
    }


async def publish_snapshots(
    interval_s: float, build: Callable[[], dict[str, Any]], publish: Callable[[dict[str, Any]], None]
) -> None:
    """Publish ``build()`` every ``interval_s`` until cancelled (a failed snapshot is logged, not fatal)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            publish(build())
        except (ArithmeticError, LookupError, ValueError, AttributeError):
            logger.exception("events: a system_metrics snapshot failed")
