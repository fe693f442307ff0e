"""The request-log writer: a bounded queue drained in batches by one supervised task.

``submit`` never blocks and never raises: an entry goes on the queue, or, when the queue is full, straight
to the spill file. The task writes each batch in one transaction, once it is full or its first entry has
waited ``flush_interval_s`` (a transaction per entry would cost several times the inserts themselves).
When the database is unreachable the batch is spilled, and once the database answers again every spill
file is replayed (idempotently, on ``request_id``). ``aclose`` writes what is still queued (to the database
or the spill file) before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from citadel.config.sections import RequestLogSettings
from citadel.governance.entry import RequestLogEntry
from citadel.governance.metrics import GovernanceMetrics
from citadel.governance.spill import Claim, SpillFile
from citadel.store.database import Database
from citadel.store.request_log import insert_rows

logger = logging.getLogger(__name__)

# What "the database is not there right now" looks like; anything else is a bug and is not retried blindly.
_UNREACHABLE = (SQLAlchemyError, OSError, TimeoutError)
_REJECTED = (IntegrityError, DataError)
_ORPHAN_SCAN_INTERVAL_S = 60.0


class RequestLogWriter:
    def __init__(
        self, database: Database, settings: RequestLogSettings, spill: SpillFile, metrics: GovernanceMetrics
    ) -> None:
        self._database = database
        self._settings = settings
        self._spill = spill
        self._rejected = SpillFile(spill.directory / "rejected")  # kept for a person, never replayed
        self._metrics = metrics
        self._queue: asyncio.Queue[RequestLogEntry] = asyncio.Queue(maxsize=settings.queue_size)
        self._stopping = asyncio.Event()
        self._batch_full = asyncio.Event()  # ends the wait for more entries early
        self._task: asyncio.Task[None] | None = None
        self._database_down_at: float | None = None
        self._replay_due = False
        self._next_orphan_scan = 0.0  # at once: orphans of an earlier run are replayed first
        self._in_flight: Sequence[RequestLogEntry] = ()

    # -- the request path -------------------------------------------------------------------------------
    def submit(self, entry: RequestLogEntry) -> None:
        if self._task is None or self._task.done():
            self._spill_now([entry], "stopped")
            return
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._spill_now([entry], "queue_full")
            return
        if self._queue.qsize() >= self._settings.batch_size:
            self._batch_full.set()

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="citadel-request-log-writer")

    async def aclose(self, timeout_s: float = 15.0) -> None:
        """Write everything queued; what cannot reach the database in ``timeout_s`` goes to the spill file."""
        self._stopping.set()
        self._batch_full.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout_s)
            except TimeoutError:
                logger.warning("request log: database too slow at shutdown; spilling what is left")
            if self._in_flight:
                self._spill_now(self._in_flight, "shutdown")
        leftover = self._drain(self._queue.qsize())
        if leftover:
            self._spill_now(leftover, "shutdown")
        self._spill.close()
        self._rejected.close()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # -- the task ---------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # the supervisor logs it and restarts the loop
                logger.exception("request log writer failed; restarting it in 1 s")
                if self._in_flight:
                    await self._spill_async(self._in_flight, "writer_error")
                    self._in_flight = ()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = await self._next_batch()
            if batch:
                self._in_flight = batch
                await self._write(batch)
                self._in_flight = ()
            if self._should_replay():
                await self._replay()

    async def _next_batch(self) -> list[RequestLogEntry]:
        if self._queue.empty():
            if self._stopping.is_set():
                return []
            get = asyncio.ensure_future(self._queue.get())
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait(
                {get, stop}, timeout=self._settings.retry_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            if not get.done():  # a pending get that is cancelled has not taken its item
                get.cancel()
                return []
            first = [get.result()]
        else:
            first = []
        await self._linger()
        return first + self._drain(self._settings.batch_size - len(first))

    async def _linger(self) -> None:
        """Let the batch fill for up to ``flush_interval_s`` (not when stopping, or when it is full)."""
        if self._queue.qsize() + 1 >= self._settings.batch_size or self._stopping.is_set():
            return
        self._batch_full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.flush_interval_s):
                await self._batch_full.wait()

    def _drain(self, most: int) -> list[RequestLogEntry]:
        batch: list[RequestLogEntry] = []
        while len(batch) < most:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    def _should_replay(self) -> bool:
        """Spilled entries wait, the database seems reachable, and we are not shutting down.

        Besides this process's own spills, the folder is scanned now and then for files a crashed worker
        left behind while the others kept running.
        """
        if self._stopping.is_set() or not self._database_reachable_now():
            return False
        if time.monotonic() >= self._next_orphan_scan:
            self._next_orphan_scan = time.monotonic() + _ORPHAN_SCAN_INTERVAL_S
            return True
        return self._replay_due or self._spill.pending

    def _database_reachable_now(self) -> bool:
        """False while the database is down and the retry interval has not passed since the last try."""
        down_at = self._database_down_at
        return down_at is None or time.monotonic() - down_at >= self._settings.retry_interval_s

    async def _write(self, batch: Sequence[RequestLogEntry]) -> None:
        if not self._database_reachable_now():
            await self._spill_async(batch, "database")
            return
        try:
            async with self._database.transaction() as connection:
                await insert_rows(connection, [entry.row() for entry in batch])
        except _REJECTED:
            logger.exception(
                "request log: the database rejected a batch of %d; kept in %s",
                len(batch),
                self._rejected.directory,
            )
            await self._reject([entry.to_json() for entry in batch])
            return
        except _UNREACHABLE as exc:
            if self._database_down_at is None:
                logger.warning(
                    "request log: database unreachable (%s); spilling to %s", exc, self._spill.directory
                )
            self._database_down_at = time.monotonic()
            self._replay_due = True
            await self._spill_async(batch, "database")
            return
        if self._database_down_at is not None:
            logger.info("request log: database reachable again; replaying spilled entries")
            self._database_down_at = None
        self._metrics.log_written.inc(len(batch))

    async def _replay(self) -> None:
        """Replay this process's spill file and any orphaned ones; stop at the first database error."""
        claims: list[Claim] = await asyncio.to_thread(self._claims)
        try:
            while claims:
                claim = claims.pop(0)
                if not await self._replay_one(claim):
                    return
            self._replay_due = self._spill.pending
        finally:
            for claim in claims:
                await asyncio.to_thread(claim.release)

    def _claims(self) -> list[Claim]:
        own = self._spill.take()
        return ([own] if own is not None else []) + self._spill.orphans()

    async def _replay_one(self, claim: Claim) -> bool:
        replayed = 0
        try:
            chunks = claim.lines(self._settings.batch_size)  # read one batch at a time, off the event loop
            while (lines := await asyncio.to_thread(next, chunks, None)) is not None:
                entries = self._parse(lines)
                try:
                    async with self._database.transaction() as connection:
                        await insert_rows(connection, [entry.row() for entry in entries])
                except _REJECTED:
                    logger.exception("request log: the database rejected spilled entries; kept aside")
                    await self._reject(lines)
                    continue
                replayed += len(entries)
        except _UNREACHABLE as exc:
            logger.warning("request log: replay of %s interrupted (%s); retrying later", claim.path.name, exc)
            self._database_down_at = time.monotonic()
            self._replay_due = True
            await asyncio.to_thread(claim.release)
            return False
        await asyncio.to_thread(claim.finish)
        self._metrics.log_replayed.inc(replayed)
        logger.info("request log: replayed %d entries from %s", replayed, claim.path.name)
        return True

    def _parse(self, lines: list[str]) -> list[RequestLogEntry]:
        entries: list[RequestLogEntry] = []
        for line in lines:
            try:
                entries.append(RequestLogEntry.from_json(line))
            except (ValueError, TypeError, KeyError):
                self._metrics.log_unreadable.inc()
                logger.warning("request log: skipped an unreadable spill line (%d bytes)", len(line))
        return entries

    # -- spilling ---------------------------------------------------------------------------------------
    def _spill_now(self, entries: Sequence[RequestLogEntry], reason: str) -> None:
        try:
            self._spill.append([entry.to_json() for entry in entries])
        except OSError as exc:  # a full or read-only disk: the one case where entries are lost, loudly
            self._metrics.log_lost.inc(len(entries))
            logger.error("request log: %d entries lost, spill file not writable: %s", len(entries), exc)
            return
        self._metrics.log_spilled.labels(reason=reason).inc(len(entries))

    async def _reject(self, lines: list[str]) -> None:
        await asyncio.to_thread(self._rejected.append, [line.rstrip("\n") for line in lines])
        self._metrics.log_spilled.labels(reason="rejected").inc(len(lines))

    async def _spill_async(self, entries: Sequence[RequestLogEntry], reason: str) -> None:
        lines = [entry.to_json() for entry in entries]
        await asyncio.to_thread(self._spill.append, lines)
        self._metrics.log_spilled.labels(reason=reason).inc(len(entries))
