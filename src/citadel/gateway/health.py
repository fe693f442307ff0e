"""The background health monitor: probes every replica's ``/health`` on an interval.

A replica's first observation decides its state at once; after that it takes ``health_failure_threshold``
failed probes (or connect timeouts) in a row to mark it down and ``health_recovery_threshold`` good probes in
a row to bring it back. A refused connection marks it down at once: on a known address it means nothing
listens there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from citadel.gateway.directory import ModelDirectory, ModelPool
from citadel.gateway.replicas import Replica

logger = logging.getLogger(__name__)


class HealthMonitor:
    """Keeps every replica's health current; started and stopped by the gateway's lifespan.

    A failed probe round never ends the loop: each error is logged with the replica it concerns, and the
    next round comes ``interval_s`` seconds later.
    """

    def __init__(
        self,
        directory: ModelDirectory,
        session: aiohttp.ClientSession,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._directory = directory
        self._session = session
        self._interval = interval_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._task: asyncio.Task[None] | None = None

    async def probe_all(self) -> None:
        await asyncio.gather(
            *(self._probe(pool, replica) for pool in self._directory.pools() for replica in pool.replicas)
        )

    async def _probe(self, pool: ModelPool, replica: Replica) -> None:
        try:
            probe = self._session.get(
                f"{replica.base_url}/health", headers=replica.headers, timeout=self._timeout
            )
            async with probe as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.observe(pool, replica, False, f"health probe failed: {type(exc).__name__}")
            return
        if status == 200:
            self.observe(pool, replica, True)
        else:
            self.observe(pool, replica, False, f"health probe answered {status}")

    @staticmethod
    def observe(
        pool: ModelPool,
        replica: Replica,
        healthy: bool,
        error: str | None = None,
        *,
        conclusive: bool = False,
    ) -> None:
        """Record what a probe or a proxied request learnt about ``replica``."""
        if replica.observe(healthy, error, conclusive=conclusive):
            log = logger.info if healthy else logger.warning
            log(
                "replica is now %s%s",
                "healthy" if healthy else "unhealthy",
                f": {error}" if error else "",
                extra={"model": pool.name, "replica": replica.base_url},
            )
        pool.refresh_health_gauge()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe_all()
            except Exception:  # the loop outlives any one round; the next comes on schedule
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
