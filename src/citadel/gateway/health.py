"""The background health monitor: probes every model service's ``/health`` on an interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from citadel.gateway.directory import ModelDirectory, ModelRoute
from citadel.gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)


class HealthMonitor:
    """Keeps :class:`ModelDirectory` health current; started and stopped by the gateway's lifespan.

    A failed probe round never ends the loop: each error is logged with the model it concerns, and the
    next round comes ``interval`` seconds later.
    """

    def __init__(
        self,
        directory: ModelDirectory,
        client: httpx.AsyncClient,
        metrics: GatewayMetrics,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._directory = directory
        self._client = client
        self._metrics = metrics
        self._interval = interval_s
        self._timeout = timeout_s
        self._task: asyncio.Task[None] | None = None

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(route) for route in self._directory.routes()))

    async def _probe(self, route: ModelRoute) -> None:
        try:
            response = await self._client.get(f"{route.base_url}/health", timeout=self._timeout)
        except httpx.HTTPError as exc:
            self.observe(route, False, f"health probe failed: {type(exc).__name__}")
            return
        if response.status_code == 200:
            self.observe(route, True)
        else:
            self.observe(route, False, f"health probe answered {response.status_code}")

    def observe(self, route: ModelRoute, healthy: bool, error: str | None = None) -> None:
        """Record what a probe or a proxied request learnt about ``route``."""
        if route.mark(healthy, error):
            log = logger.info if healthy else logger.warning
            log(
                "model %s is now %s%s",
                route.name,
                "healthy" if healthy else "unhealthy",
                f": {error}" if error else "",
            )
        self._metrics.health.labels(route.name).set(1 if healthy else 0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe_all()
            except Exception:
                logger.exception("health probe round failed; next round in %.0f s", self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="citadel-health-monitor")
        self._task.add_done_callback(self._on_done)

    @staticmethod
    def _on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("health monitor stopped unexpectedly", exc_info=task.exception())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
