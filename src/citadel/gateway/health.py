"""The background health monitor: probes every replica's ``/health``, soon after a failure, seldom when fine.

Each replica has its own schedule. A healthy replica whose last probe was good is probed every
``interval_s``; any other (down, never seen, or healthy with a failed probe against it) on a short backoff:
0.5 s, doubling with each failed probe, up to ``interval_s``. A replica marked down by a proxied request
(a refused connection) switches to the backoff at once. So a model service that restarts in a few seconds is
seen again within about as many, not at the next interval.

A replica's first observation decides its state at once; after that it takes ``health_failure_threshold``
failed probes (or connect timeouts) in a row to mark it down and ``health_recovery_threshold`` good probes in
a row to bring it back. Two exceptions decide at once: a refused connection marks it down (on a known address
it means nothing listens there), and a good probe brings it back when its model has no healthy replica at all
(the threshold guards against sending traffic to a flapping replica while others can take it; with none
left, the replica that answers is better than a certain 503).

A request that finds no healthy replica calls :meth:`HealthMonitor.probe_now` before answering 503; its probes
are shared with any already under way, so a burst of such requests makes one probe per replica.

Probes go through the gateway's one upstream client, on the same keep-alive connections as the requests,
each with its own ``x-request-id``. A probe that finds every connection to its replica busy for the whole
probe timeout decides nothing: the replica is serving (a busy pool is the gateway's limit, not its failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from citadel.gateway.directory import ModelDirectory, ModelPool
from citadel.gateway.replicas import Replica
from citadel.gateway.request_id import request_ids
from citadel.gateway.upstream_errors import Deadlines, PoolTimeout, UpstreamError
from citadel.gateway.upstream_pool import UpstreamClient
from citadel.waiting import set_within

logger = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.5
_MAX_DOUBLINGS = 32  # beyond this the backoff is the interval anyway; keeps 2 ** n a small number


def probe_delay(
    healthy: bool, misses: int, *, interval_s: float, initial_s: float = INITIAL_BACKOFF_S
) -> float:
    """Seconds until a replica's next probe, given its state and its failed probes in a row.

    >>> [probe_delay(False, misses, interval_s=30) for misses in range(8)]
    [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30]
    >>> probe_delay(True, 0, interval_s=30)
    30
    """
    if healthy and misses == 0:
        return interval_s
    doublings = min(max(0, misses - 1), _MAX_DOUBLINGS)
    return min(interval_s, initial_s * float(1 << doublings))


@dataclass(slots=True, eq=False)
class _Watch:
    """One replica's probing: its schedule, and the probe under way that callers share."""

    pool: ModelPool
    replica: Replica
    misses: int = 0  # failed probes in a row
    rescheduled: asyncio.Event = field(default_factory=asyncio.Event)  # its state changed: plan anew
    probe: asyncio.Task[None] | None = None
    schedule: asyncio.Task[None] | None = None  # its _follow loop


class HealthMonitor:
    """Keeps every replica's health current; started and stopped by the gateway's lifespan.

    A failed probe never ends a replica's schedule: each error is logged with the replica it concerns, and
    the next probe comes as planned.
    """

    def __init__(
        self,
        directory: ModelDirectory,
        client: UpstreamClient,
        *,
        interval_s: float,
        timeout_s: float,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
    ) -> None:
        self._client = client
        self._interval = interval_s
        self._initial_backoff = min(initial_backoff_s, interval_s)
        self._deadlines = Deadlines(
            total_s=timeout_s, connect_s=timeout_s, read_s=timeout_s, pool_s=timeout_s
        )
        self._request_ids = request_ids()
        self._watches = {
            replica: _Watch(pool, replica) for pool in directory.pools() for replica in pool.replicas
        }
        self._schedules: list[asyncio.Task[None]] = []

    async def probe_all(self) -> None:
        """Probe every replica now (at start, to know their state before the first request)."""
        await asyncio.gather(*(self._shared_probe(watch) for watch in self._watches.values()))

    async def probe_now(self, pool: ModelPool) -> bool:
        """Probe ``pool``'s replicas that are down, sharing probes already under way; whether one is up
        now."""
        watches = [self._watches.get(r) for r in pool.replicas if not r.healthy]
        await asyncio.gather(*(self._shared_probe(watch) for watch in watches if watch is not None))
        return pool.healthy

    def observe(
        self,
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
            if not healthy:
                watch = self._watches.get(replica)
                if watch is not None:
                    watch.rescheduled.set()  # from the healthy interval to the short backoff, from now
        pool.refresh_health_gauge()

    # -- probing ----------------------------------------------------------------------------------------
    def _shared_probe(self, watch: _Watch) -> asyncio.Future[None]:
        """The replica's probe under way, or a new one; shielded, so a caller that leaves cancels only its
        own wait."""
        if watch.probe is None or watch.probe.done():
            watch.probe = asyncio.create_task(
                self._probe(watch), name=f"citadel-probe {watch.replica.base_url}"
            )
        return asyncio.shield(watch.probe)

    async def _probe(self, watch: _Watch) -> None:
        pool, replica = watch.pool, watch.replica
        try:
            verdict = await self._ask(replica)
        except Exception as exc:  # a bug in one probe must not end the replica's schedule or fail a request
            logger.exception("health probe failed", extra={"model": pool.name, "replica": replica.base_url})
            verdict = False, f"health probe failed: {type(exc).__name__}"
        if verdict is None:
            return
        ok, error = verdict
        watch.misses = 0 if ok else watch.misses + 1
        # With no healthy replica left, one good probe is enough (see the module's docstring).
        self.observe(pool, replica, ok, error, conclusive=ok and not pool.healthy)

    async def _ask(self, replica: Replica) -> tuple[bool, str | None] | None:
        """Whether ``replica`` answered ``/health`` with 200 (and why not); None: no connection was free."""
        try:
            response = await self._client.get(
                replica.url("/health"),
                replica.headers,
                self._deadlines,
                request_id=next(self._request_ids),
            )
            try:
                await response.read()
            finally:
                response.release()
        except PoolTimeout as exc:
            logger.info("health probe skipped: %s", exc, extra={"replica": replica.base_url})
            return None
        except UpstreamError as exc:
            return False, f"health probe failed: {type(exc).__name__}"
        status = response.status
        if status == 200:
            return True, None
        return False, f"health probe answered {status}"

    async def _follow(self, watch: _Watch) -> None:
        """Probe one replica for as long as the monitor runs."""
        while True:
            delay = probe_delay(
                watch.replica.healthy,
                watch.misses,
                interval_s=self._interval,
                initial_s=self._initial_backoff,
            )
            watch.rescheduled.clear()
            if await set_within(watch.rescheduled, delay):
                continue  # marked down meanwhile: the backoff starts from now
            await self._shared_probe(watch)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        for watch in self._watches.values():
            self._schedule(watch)

    def _schedule(self, watch: _Watch) -> None:
        task = asyncio.create_task(self._follow(watch), name=f"citadel-health {watch.replica.base_url}")
        task.add_done_callback(self._on_done)
        watch.schedule = task
        self._schedules.append(task)

    def watch(self, pool: ModelPool, replica: Replica) -> None:
        """Probe a replica added while the gateway runs (service discovery), from now on."""
        watch = self._watches[replica] = _Watch(pool, replica, misses=0 if replica.healthy else 1)
        self._schedule(watch)

    def unwatch(self, replica: Replica) -> None:
        """Stop probing a replica that left its pool."""
        watch = self._watches.pop(replica, None)
        if watch is None:
            return
        # A probe under way finishes (within its timeout): a request may be waiting on it.
        if watch.schedule is not None:
            watch.schedule.cancel()
            self._schedules.remove(watch.schedule)

    @staticmethod
    def _on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("health monitor stopped unexpectedly", exc_info=task.exception())

    async def stop(self) -> None:
        tasks = [*self._schedules, *(w.probe for w in self._watches.values() if w.probe is not None)]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._schedules.clear()
