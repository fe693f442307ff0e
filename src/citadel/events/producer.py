"""The event producer: a bounded queue drained in batches by one supervised task; never blocks the caller.

``publish`` puts an event on the queue, or, when the queue is full, straight into the spill file. The task
sends a batch and awaits the broker's acknowledgements; when the broker is unreachable the batch is spilled,
and once it answers again every spill file (this process's and orphans of dead ones) is replayed. A batch
that failed half-way is spilled whole, so an event may reach the broker twice: consumers keep each event
id once (:mod:`citadel.events.dedupe`), which makes delivery exactly once per event id at the consumer.
``aclose`` sends what is queued (or spills it) before returning.

    publisher = EventPublisher(KafkaSink(settings.events), settings.events, SpillFile(path), metrics)
    publisher.start()
    publisher.publish(settings.events.topics.requests.name, Event.new("request_processed", rid, {...}))
    await publisher.aclose()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from citadel.config.events import EventSettings
from citadel.events.metrics import EventMetrics
from citadel.events.schema import Event, Routed
from citadel.events.sink import BrokerUnavailable, EventSink
from citadel.events.spill import Claim, SpillFile, parse_lines

logger = logging.getLogger(__name__)

_ORPHAN_SCAN_INTERVAL_S = 60.0
_LINGER_S = 0.05  # lets a batch fill a little: one round trip for many events


class EventPublisher:
    def __init__(
        self, sink: EventSink, settings: EventSettings, spill: SpillFile, metrics: EventMetrics
    ) -> None:
        self._sink = sink
        self._settings = settings.producer
        self.topics = settings.topics
        self._spill = spill
        self._metrics = metrics
        self._queue: asyncio.Queue[Routed] = asyncio.Queue(maxsize=self._settings.queue_size)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._down_at: float | None = None
        self._replay_due = False
        self._next_orphan_scan = 0.0
        self._in_flight: Sequence[Routed] = ()

    # -- the request path -------------------------------------------------------------------------------
    def publish(self, topic: str, event: Event) -> None:
        """Queue ``event`` for ``topic``; never blocks, never raises."""
        routed = Routed(topic, event)
        if self._task is None or self._task.done():
            self._spill_now([routed], "stopped")
            return
        try:
            self._queue.put_nowait(routed)
        except asyncio.QueueFull:
            self._spill_now([routed], "queue_full")

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def broker_down(self) -> bool:
        return self._down_at is not None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="citadel-event-publisher")

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Send everything queued; what cannot reach the broker in ``timeout_s`` goes to the spill file."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout_s)
            except TimeoutError:
                logger.warning("events: broker too slow at shutdown; spilling what is left")
            if self._in_flight:
                self._spill_now(self._in_flight, "shutdown")
        leftover = self._drain(self._queue.qsize())
        if leftover:
            self._spill_now(leftover, "shutdown")
        self._spill.close()
        await self._sink.aclose()

    # -- the task ---------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # the supervisor logs it and restarts the loop
                logger.exception("event publisher failed; restarting it in 1 s")
                if self._in_flight:
                    await self._spill_async(self._in_flight, "publisher_error")
                    self._in_flight = ()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = await self._next_batch()
            if batch:
                self._in_flight = batch
                await self._send(batch)
                self._in_flight = ()
            if self._should_replay():
                await self._replay()

    async def _next_batch(self) -> list[Routed]:
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
            if not self._stopping.is_set() and self._queue.qsize() + 1 < self._settings.batch_size:
                await asyncio.sleep(_LINGER_S)
        else:
            first = []
        return first + self._drain(self._settings.batch_size - len(first))

    def _drain(self, most: int) -> list[Routed]:
        batch: list[Routed] = []
        while len(batch) < most:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    def _reachable_now(self) -> bool:
        """False while the broker is down and the retry interval has not passed since the last try."""
        return self._down_at is None or time.monotonic() - self._down_at >= self._settings.retry_interval_s

    def _should_replay(self) -> bool:
        if self._stopping.is_set() or not self._reachable_now():
            return False
        if time.monotonic() >= self._next_orphan_scan:
            self._next_orphan_scan = time.monotonic() + _ORPHAN_SCAN_INTERVAL_S
            return True
        return self._replay_due or self._spill.pending

    async def _send(self, batch: Sequence[Routed]) -> None:
        if not self._reachable_now():
            await self._spill_async(batch, "broker")
            return
        try:
            await self._sink.send(batch)
        except BrokerUnavailable as exc:
            if self._down_at is None:
                logger.warning("events: broker unreachable (%s); spilling to %s", exc, self._spill.directory)
            self._down_at = time.monotonic()
            self._replay_due = True
            await self._spill_async(batch, "broker")
            return
        if self._down_at is not None:
            logger.info("events: broker reachable again; replaying spilled events")
            self._down_at = None
        for routed in batch:
            self._metrics.published.labels(topic=routed.topic).inc()

    async def _replay(self) -> None:
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
        chunks = claim.lines(self._settings.batch_size)  # one batch at a time, read off the event loop
        try:
            while (lines := await asyncio.to_thread(next, chunks, None)) is not None:
                batch, unreadable = parse_lines(lines)
                self._metrics.lost.inc(unreadable)
                await self._sink.send(batch)
                replayed += len(batch)
        except BrokerUnavailable as exc:
            # What was sent of this file is sent again later: consumers drop the repeated ids.
            logger.warning("events: replay of %s interrupted (%s); retrying later", claim.path.name, exc)
            self._down_at = time.monotonic()
            self._replay_due = True
            await asyncio.to_thread(claim.release)
            return False
        await asyncio.to_thread(claim.finish)
        self._metrics.replayed.inc(replayed)
        logger.info("events: replayed %d events from %s", replayed, claim.path.name)
        return True

    # -- spilling ---------------------------------------------------------------------------------------
    def _spill_now(self, batch: Sequence[Routed], reason: str) -> None:
        try:
            self._spill.append([routed.to_json() for routed in batch])
        except OSError as exc:  # a full or read-only disk: the one case where events are lost, loudly
            self._metrics.lost.inc(len(batch))
            logger.error("events: %d events lost, spill file not writable: %s", len(batch), exc)
            return
        self._metrics.spilled.labels(reason=reason).inc(len(batch))

    async def _spill_async(self, batch: Sequence[Routed], reason: str) -> None:
        lines = [routed.to_json() for routed in batch]
        try:
            await asyncio.to_thread(self._spill.append, lines)
        except OSError as exc:
            self._metrics.lost.inc(len(batch))
            logger.error("events: %d events lost, spill file not writable: %s", len(batch), exc)
            return
        self._metrics.spilled.labels(reason=reason).inc(len(batch))
