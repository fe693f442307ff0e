"""Per-key spend limits: what a key spent in its current period (day, week or month, UTC).

The spend is the database's sum for the period, re-read every ``refresh_s``, plus what this process recorded
since then. A key over its limit is refused within a few seconds of crossing it (the request-log flush and the
refresh), on every worker: close enough for a budget, and no database write on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from citadel.store.database import Database
from citadel.store.keys import KeyRecord
from citadel.store.request_log import spent_since

logger = logging.getLogger(__name__)

PERIODS = ("day", "week", "month")
_REFRESH_TIMEOUT_S = 1.0  # a slow database must not hold requests up: the last known spend is used


def period_start(period: str, now: datetime) -> datetime:
    """The start (UTC midnight) of the day, ISO week or month ``now`` is in."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"spend period must be one of {', '.join(PERIODS)}, not {period!r}")


class SpendLedger:
    def __init__(
        self, database: Database, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._refresh_s = refresh_s
        self._clock = clock
        self._stored: dict[int, tuple[datetime, float, float]] = {}  # key -> (period start, read at, sum)
        self._local: dict[int, float] = {}

    async def spent(self, key: KeyRecord, now: datetime) -> float:
        start = period_start(key.spend_period, now)
        stored = self._stored.get(key.id)
        if stored is None or stored[0] != start or self._clock() - stored[1] >= self._refresh_s:
            try:
                async with asyncio.timeout(_REFRESH_TIMEOUT_S), self._database.transaction() as connection:
                    total = await spent_since(connection, key.id, start)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                logger.warning("spend of key %s not refreshed: %s", key.prefix, type(exc).__name__)
                total = stored[2] if stored is not None and stored[0] == start else 0.0
                return total + self._local.get(key.id, 0.0)
            stored = (start, self._clock(), total)
            self._stored[key.id] = stored
            self._local[key.id] = 0.0
        return stored[2] + self._local.get(key.id, 0.0)

    def add(self, key_id: int, cost: float) -> None:
        """A request this process just recorded (not yet in the database's sum)."""
        if key_id in self._stored:
            self._local[key_id] = self._local.get(key_id, 0.0) + cost
