"""The request-log writer: write-behind to the database, one transaction per batch.

:class:`citadel.write_behind.WriteBehind` does the buffering, batching (a batch is written once it is full
or its first entry has waited ``flush_interval_s``: a transaction per entry would cost several times the
inserts themselves), spilling while the database is unreachable and replaying once it answers (inserts are
idempotent on ``request_id``). This says how a batch is written, and keeps a batch the database rejects
(a constraint or a value it refuses) in a separate file for a person: retrying it would fail forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from citadel.config.sections import RequestLogSettings
from citadel.governance.entry import RequestLogEntry
from citadel.governance.metrics import GovernanceMetrics
from citadel.store.database import Database
from citadel.store.request_log import insert_rows
from citadel.write_behind import Unreachable, WriteBehind, WriteBehindCounters, WriteBehindLimits
from citadel.write_behind.spill import SpillFile

logger = logging.getLogger(__name__)

# What "the database is not there right now" looks like; anything else is a bug and is not retried blindly.
_UNREACHABLE = (SQLAlchemyError, OSError, TimeoutError)
_REJECTED = (IntegrityError, DataError)


class RequestLogWriter(WriteBehind[RequestLogEntry]):
    name = "request log"
    destination = "database"

    def __init__(
        self, database: Database, settings: RequestLogSettings, spill: SpillFile, metrics: GovernanceMetrics
    ) -> None:
        limits = WriteBehindLimits(
            settings.queue_size, settings.batch_size, settings.flush_interval_s, settings.retry_interval_s
        )
        counters = WriteBehindCounters(
            metrics.log_spilled, metrics.log_lost, metrics.log_replayed, metrics.log_unreadable
        )
        super().__init__(spill, limits, counters)
        self._database = database
        self._rejected = SpillFile(spill.directory / "rejected")  # kept for a person, never replayed
        self._metrics = metrics

    async def aclose(self, timeout_s: float = 15.0) -> None:
        """Write everything queued; what cannot reach the database in ``timeout_s`` goes to the spill file."""
        await super().aclose(timeout_s)
        self._rejected.close()

    async def deliver(self, batch: Sequence[RequestLogEntry]) -> None:
        if await self._insert(batch):
            self._metrics.log_written.inc(len(batch))
        else:
            await self._reject([entry.to_json() for entry in batch])

    async def deliver_replayed(self, items: list[RequestLogEntry], lines: list[str]) -> int:
        if await self._insert(items):
            return len(items)
        await self._reject(lines)
        return 0

    def encode(self, item: RequestLogEntry) -> str:
        return item.to_json()

    def decode(self, line: str) -> RequestLogEntry:
        return RequestLogEntry.from_json(line)

    async def _insert(self, entries: Sequence[RequestLogEntry]) -> bool:
        """True once written; False when the database rejected them; ``Unreachable`` when it is not there."""
        try:
            async with self._database.transaction() as connection:
                await insert_rows(connection, [entry.row() for entry in entries])
        except _REJECTED:
            logger.exception(
                "request log: the database rejected a batch of %d; kept in %s",
                len(entries),
                self._rejected.directory,
            )
            return False
        except _UNREACHABLE as exc:
            raise Unreachable(str(exc)) from exc
        return True

    async def _reject(self, lines: list[str]) -> None:
        await asyncio.to_thread(self._rejected.append, [line.rstrip("\n") for line in lines])
        self._metrics.log_spilled.labels(reason="rejected").inc(len(lines))
