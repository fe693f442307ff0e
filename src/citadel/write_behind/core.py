"""Write-behind: hand items to a slow destination in batches without ever blocking or losing one.

The request log (to the database) and the events (to the broker) are both this. ``submit`` appends to an
in-memory buffer, or, when the buffer is full or the task is not running, writes the item straight to the
spill file; it never blocks and never raises. One supervised task takes batches of up to ``batch_size``,
once the batch is full or its first item has waited ``linger_s``, and delivers each. When the destination
raises :class:`Unreachable`, the batch is spilled; once the destination answers again every spill file
(this process's, and those dead processes left behind) is replayed. ``aclose`` delivers what is buffered, or
spills it, before returning. Destinations deduplicate (on the request id, on the event id): a batch that
failed half-way is spilled whole and may arrive twice.

A subclass says how to deliver and how an item reads as a spill line:

    class Writer(WriteBehind[Entry]):
        async def deliver(self, batch: Sequence[Entry]) -> None: ...   # raises Unreachable
        def encode(self, item: Entry) -> str: ...
        def decode(self, line: str) -> Entry: ...

The buffer is a plain list and a wake-up event set only when the task may be waiting: an
``asyncio.Queue`` put and get cost several microseconds an item, on every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Counter

from citadel.waiting import set_within
from citadel.write_behind.spill import Claim, SpillFile

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ORPHAN_SCAN_INTERVAL_S = 60.0


class Unreachable(Exception):
    """The destination did not (or not surely) take the batch: it is spilled and replayed later."""


@dataclass(frozen=True)
class WriteBehindCounters:
    spilled: Counter  # labelled by reason
    lost: Counter
    replayed: Counter
    unreadable: Counter


@dataclass(frozen=True)
class WriteBehindLimits:
    queue_size: int  # items in memory, at most
    batch_size: int
    linger_s: float  # how long a batch's first item waits for others
    retry_interval_s: float  # between attempts to reach a destination that was down


class WriteBehind(Generic[T]):
    name = "write-behind"  # what log lines start with
    destination = "destination"  # what is unreachable, in log lines and as the spill reason

    def __init__(self, spill: SpillFile, limits: WriteBehindLimits, counters: WriteBehindCounters) -> None:
        self._spill = spill
        self._limits = limits
        self._counters = counters
        self._buffer: list[T] = []
        self._wake = asyncio.Event()  # set by submit when the task may be waiting for it
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._down_at: float | None = None
        self._replay_due = False
        self._next_orphan_scan = 0.0  # at once: orphans of an earlier run are replayed first
        self._in_flight: Sequence[T] = ()

    # -- what a subclass says ---------------------------------------------------------------------------
    async def deliver(self, batch: Sequence[T]) -> None:
        """Deliver ``batch`` or raise :class:`Unreachable`."""
        raise NotImplementedError

    async def deliver_replayed(self, items: list[T], lines: list[str]) -> int:
        """Deliver items read back from a spill file (``lines``, as read); how many count as replayed."""
        await self.deliver(items)
        return len(items)

    def encode(self, item: T) -> str:
        raise NotImplementedError

    def decode(self, line: str) -> T:
        """Raises ``ValueError``, ``TypeError`` or ``KeyError`` for a line that does not read back."""
        raise NotImplementedError

    # -- the request path -------------------------------------------------------------------------------
    def submit(self, item: T) -> None:
        """Buffer ``item`` for delivery; never blocks, never raises."""
        task = self._task
        if task is None or task.done():
            self._spill_now([item], "stopped")
            return
        buffer = self._buffer
        if len(buffer) >= self._limits.queue_size:
            self._spill_now([item], "queue_full")
            return
        buffer.append(item)
        if len(buffer) == 1 or len(buffer) == self._limits.batch_size:
            self._wake.set()  # the task waits for a first item, or lingers for a full batch

    @property
    def queued(self) -> int:
        return len(self._buffer)

    @property
    def destination_down(self) -> bool:
        return self._down_at is not None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"citadel-{self.name.replace(' ', '-')}")

    async def aclose(self, timeout_s: float) -> None:
        """Deliver everything buffered; what cannot reach the destination in ``timeout_s`` is spilled."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout_s)
            except TimeoutError:
                logger.warning(
                    "%s: %s too slow at shutdown; spilling what is left", self.name, self.destination
                )
            if self._in_flight:
                self._spill_now(self._in_flight, "shutdown")
        leftover, self._buffer = self._buffer, []
        if leftover:
            self._spill_now(leftover, "shutdown")
        self._spill.close()

    # -- the task ---------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # the supervisor logs it and restarts the loop
                logger.exception("%s failed; restarting it in 1 s", self.name)
                if self._in_flight:
                    await self._spill_async(self._in_flight, "task_error")
                    self._in_flight = ()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        while not (self._stopping and not self._buffer):
            batch = await self._next_batch()
            if batch:
                self._in_flight = batch
                await self._send(batch)
                self._in_flight = ()
            if self._should_replay():
                await self._replay()

    async def _next_batch(self) -> list[T]:
        if not self._buffer:
            if self._stopping:
                return []
            self._wake.clear()
            # Waking up now and then even when idle: spilled items are replayed from this loop.
            if not await set_within(self._wake, self._limits.retry_interval_s) or not self._buffer:
                return []
        if len(self._buffer) < self._limits.batch_size and not self._stopping:
            self._wake.clear()
            await set_within(self._wake, self._limits.linger_s)
        most = self._limits.batch_size
        if len(self._buffer) <= most:
            batch, self._buffer = self._buffer, []
        else:
            batch, self._buffer = self._buffer[:most], self._buffer[most:]
        return batch

    def _reachable_now(self) -> bool:
        """False while the destination is down and the retry interval has not passed since the last try."""
        down_at = self._down_at
        return down_at is None or time.monotonic() - down_at >= self._limits.retry_interval_s

    def _should_replay(self) -> bool:
        """Spilled items wait, the destination seems reachable, and we are not shutting down. Besides this
        process's own spills, the folder is scanned now and then for files a crashed process left behind."""
        if self._stopping or not self._reachable_now():
            return False
        if time.monotonic() >= self._next_orphan_scan:
            self._next_orphan_scan = time.monotonic() + _ORPHAN_SCAN_INTERVAL_S
            return True
        return self._replay_due or self._spill.pending

    def _went_down(self, exc: Exception) -> None:
        if self._down_at is None:
            logger.warning(
                "%s: %s unreachable (%s); spilling to %s",
                self.name,
                self.destination,
                exc,
                self._spill.directory,
            )
        self._down_at = time.monotonic()
        self._replay_due = True

    async def _send(self, batch: Sequence[T]) -> None:
        if not self._reachable_now():
            await self._spill_async(batch, self.destination)
            return
        try:
            await self.deliver(batch)
        except Unreachable as exc:
            self._went_down(exc)
            await self._spill_async(batch, self.destination)
            return
        if self._down_at is not None:
            logger.info("%s: %s reachable again; replaying what was spilled", self.name, self.destination)
            self._down_at = None

    # -- replaying --------------------------------------------------------------------------------------
    async def _replay(self) -> None:
        """Replay this process's spill file and any orphaned ones; stop at the first ``Unreachable``."""
        claims: list[Claim] = await asyncio.to_thread(self._claims)
        try:
            while claims:
                if not await self._replay_one(claims.pop(0)):
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
        chunks = claim.lines(self._limits.batch_size)  # one batch at a time, read off the event loop
        try:
            while (lines := await asyncio.to_thread(next, chunks, None)) is not None:
                replayed += await self.deliver_replayed(self._parse(lines), lines)
        except Unreachable as exc:
            # What was delivered of this file is delivered again later: destinations deduplicate.
            logger.warning(
                "%s: replay of %s interrupted (%s); retrying later", self.name, claim.path.name, exc
            )
            self._down_at = time.monotonic()
            self._replay_due = True
            await asyncio.to_thread(claim.release)
            return False
        await asyncio.to_thread(claim.finish)
        self._counters.replayed.inc(replayed)
        logger.info("%s: replayed %d from %s", self.name, replayed, claim.path.name)
        return True

    def _parse(self, lines: list[str]) -> list[T]:
        items: list[T] = []
        for line in lines:
            try:
                items.append(self.decode(line))
            except (ValueError, TypeError, KeyError):
                self._counters.unreadable.inc()
                logger.warning("%s: skipped an unreadable spill line (%d bytes)", self.name, len(line))
        return items

    # -- spilling ---------------------------------------------------------------------------------------
    def _spill_now(self, items: Sequence[T], reason: str) -> None:
        try:
            self._spill.append([self.encode(item) for item in items])
        except OSError as exc:  # a full or read-only disk: the one case where items are lost, loudly
            self._lost(len(items), exc)
            return
        self._counters.spilled.labels(reason=reason).inc(len(items))

    async def _spill_async(self, items: Sequence[T], reason: str) -> None:
        lines = [self.encode(item) for item in items]
        try:
            await asyncio.to_thread(self._spill.append, lines)
        except OSError as exc:
            self._lost(len(items), exc)
            return
        self._counters.spilled.labels(reason=reason).inc(len(items))

    def _lost(self, count: int, exc: OSError) -> None:
        self._counters.lost.inc(count)
        logger.error("%s: %d lost, spill file not writable: %s", self.name, count, exc)
