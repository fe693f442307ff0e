"""Looking keys up by the hash of their secret, with a small bounded cache so most requests skip the database.

A cached answer (including "no such key") is trusted for ``auth.key_cache_ttl_s``: a key revoked in another
process is refused within that time, one revoked here at once (``forget``). When the database cannot be
reached (or takes over a second to refresh a cached key), the stale cached key is still honoured; an unknown
one gets 503 rather than a wrong 401.

Concurrent lookups of one key share one database query: when a cached key expires under load, the requests
that arrive before the refresh answers wait for it instead of each opening a connection (which, past the
pool's size, meant a new connection per request every ``key_cache_ttl_s``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from citadel.errors import ServiceUnavailable
from citadel.store.database import Database
from citadel.store.keys import KeyRecord, find_by_hash

logger = logging.getLogger(__name__)

_MAX_ENTRIES = 10_000  # bounds memory under a flood of made-up keys
_REFRESH_TIMEOUT_S = 1.0


class KeyDirectory:
    def __init__(self, database: Database, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._database = database
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, KeyRecord | None]] = OrderedDict()
        self._refreshing: dict[str, asyncio.Task[KeyRecord | None]] = {}
        self._generation = 0  # bumped by forget(): a refresh begun before must not re-cache what it read

    async def lookup(self, secret_hash: str) -> KeyRecord | None:
        now = self._clock()
        cached = self._cache.get(secret_hash)
        if cached is not None and now - cached[0] < self._ttl_s:
            self._cache.move_to_end(secret_hash)
            return cached[1]
        refresh = self._refreshing.get(secret_hash)
        if refresh is None:
            # A task of its own, so that the request which started it can be cancelled without failing
            # the others that wait for it.
            refresh = asyncio.ensure_future(self._refresh(secret_hash, now, cached, self._generation))
            self._refreshing[secret_hash] = refresh
            refresh.add_done_callback(lambda done: self._refreshed(secret_hash, done))
        return await asyncio.shield(refresh)

    def _refreshed(self, secret_hash: str, done: asyncio.Task[KeyRecord | None]) -> None:
        if self._refreshing.get(secret_hash) is done:
            del self._refreshing[secret_hash]
        if not done.cancelled():
            done.exception()  # retrieved: a failed refresh whose waiters all left must not warn

    async def _refresh(
        self, secret_hash: str, now: float, cached: tuple[float, KeyRecord | None] | None, generation: int
    ) -> KeyRecord | None:
        try:
            # With a cached answer to fall back on, a slow database may not hold the request up.
            async with asyncio.timeout(_REFRESH_TIMEOUT_S if cached is not None else None):
                async with self._database.transaction() as connection:
                    record = await find_by_hash(connection, secret_hash)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            if cached is not None and cached[1] is not None:
                return cached[1]
            logger.warning("API key lookup failed: %s", type(exc).__name__)
            raise ServiceUnavailable(
                "The key store is unavailable; try again shortly.", retry_after_s=1
            ) from exc
        if generation != self._generation:
            return record
        self._cache[secret_hash] = (now, record)
        self._cache.move_to_end(secret_hash)
        while len(self._cache) > _MAX_ENTRIES:
            self._cache.popitem(last=False)
        return record

    def forget(self) -> None:
        """Drop every cached answer (after this process changed a key)."""
        self._cache.clear()
        self._refreshing.clear()
        self._generation += 1
