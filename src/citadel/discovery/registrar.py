"""A model service's registration, kept alive for as long as the service runs.

The service puts its entry under a lease of ``lease_ttl_s`` and renews it every third of that. While etcd
is unreachable it keeps trying (the entry may expire meanwhile: a gateway then stops routing to it, which is
what a partitioned service should get); once etcd answers again, an expired lease is replaced and the entry
put again. On a clean stop the lease is revoked, so the entry disappears at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from citadel.config.scaling import DiscoverySettings
from citadel.discovery.etcd import EtcdClient, EtcdUnavailable
from citadel.discovery.registration import Registration

logger = logging.getLogger(__name__)


class Registrar:
    def __init__(self, client: EtcdClient, settings: DiscoverySettings, entry: Registration) -> None:
        self._client = client
        self._settings = settings
        self._entry = entry
        self._key = entry.key(settings.prefix)
        self._lease: int | None = None
        self.registered = asyncio.Event()  # set once the entry is in etcd

    async def _register(self) -> None:
        self._lease = await self._client.grant(self._settings.lease_ttl_s)
        await self._client.put(self._key, self._entry.encode(), lease=self._lease)
        self.registered.set()
        logger.info("registered in etcd as %s", self._key, extra={"model": self._entry.model})

    async def run(self) -> None:
        """Register, then renew until cancelled."""
        renew_every = self._settings.lease_ttl_s / 3
        failing = False
        while True:
            try:
                if self._lease is None or await self._client.keep_alive(self._lease) <= 0:
                    await self._register()
                if failing:
                    logger.info("etcd reachable again", extra={"model": self._entry.model})
                failing = False
                await asyncio.sleep(renew_every)
            except EtcdUnavailable as exc:
                if not failing:
                    logger.warning("etcd unreachable: %s", exc, extra={"model": self._entry.model})
                failing = True
                await asyncio.sleep(self._settings.retry_interval_s)

    async def deregister(self) -> None:
        if self._lease is None:
            return
        try:
            await self._client.revoke(self._lease)
        except EtcdUnavailable as exc:  # the lease expires by itself
            logger.warning("could not revoke the etcd lease: %s", exc, extra={"model": self._entry.model})


@contextlib.asynccontextmanager
async def registered(settings: DiscoverySettings, entry: Registration) -> AsyncIterator[Registrar | None]:
    """For a service's lifespan: registered while inside (None when discovery is off)."""
    if settings.backend != "etcd":
        yield None
        return
    async with EtcdClient(settings.endpoints, timeout_s=settings.timeout_s) as client:
        registrar = Registrar(client, settings, entry)
        task = asyncio.create_task(registrar.run(), name=f"citadel-registrar {entry.model}")
        task.add_done_callback(_report_crash)
        try:
            yield registrar
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await registrar.deregister()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the etcd registration stopped", exc_info=task.exception())
