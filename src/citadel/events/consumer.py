"""The consumer loop of one group: read a batch, handle each new event id once, commit, export the lag.

A batch of one partition is handled in one database transaction that also records every event id as seen
(:func:`citadel.store.event_rows.mark_seen`, one statement that returns the new ids); the handler gets only
those, and the group's offset is committed only after that transaction.
A crash between the two hands the batch out again, and the seen ids make it a no-op: exactly once per event
id, and reprocessing a partition from the start changes nothing.

    async with open_group(settings, "metrics-aggregator", database, metrics, publish) as group:
        await group.run(stop)          # until stop is set; ``once=True``: until caught up
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from citadel.config import CitadelSettings
from citadel.events.consumer_metrics import ConsumerMetrics
from citadel.events.handlers import Handler, HandlerContext, RetryLater, make_handler
from citadel.events.schema import Event
from citadel.store.database import Database
from citadel.store.event_rows import mark_seen, purge_before
from citadel.store.event_tables import event_seen
from citadel.waiting import set_within

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

logger = logging.getLogger(__name__)

_RETRY_S = 5.0  # before reading a batch again whose handler said "later"


class ConsumerGroup:
    def __init__(self, handler: Handler, consumer: AIOKafkaConsumer, context: HandlerContext) -> None:
        self.handler = handler
        self._consumer = consumer
        self._context = context
        self._poll_ms = int(context.settings.events.consumers.poll_timeout_s * 1000)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> int:
        """Consume until ``stop`` is set (``once``: until a poll finds nothing new); the events handled."""
        handled = 0
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=self._poll_ms, max_records=1000)
            try:
                for partition, messages in batches.items():
                    handled += await self._handle(messages)
                    await self._consumer.commit({partition: messages[-1].offset + 1})
            except RetryLater as exc:
                if once:
                    raise
                logger.warning("%s: %s; reading the batch again in %s s", self.handler.name, exc, _RETRY_S)
                await self._consumer.seek_to_committed()
                await set_within(stop, _RETRY_S)
                continue
            await self.handler.after_batch()
            await self._export_lag()
            if once and not batches:
                break
        await self.handler.finish_run()
        await self._purge_seen()
        return handled

    async def _handle(self, messages: list[Any]) -> int:
        group, metrics = self.handler.name, self._context.metrics
        events: dict[str, Event] = {}  # by id: a batch may hold one id twice
        readable = 0
        for message in messages:
            try:
                event = Event.from_json(message.value)
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning(
                    "%s: skipped an unreadable message at offset %d: %s", group, message.offset, exc
                )
                continue
            readable += 1
            events.setdefault(event.id, event)
        async with self._context.database.transaction() as connection:
            new = await mark_seen(connection, group, list(events), int(time.time()))
            fresh = [event for event_id, event in events.items() if event_id in new]
            await self.handler.handle(connection, fresh)
        metrics.duplicates.labels(group=group).inc(readable - len(fresh))
        for event in fresh:
            metrics.consumed.labels(group=group, type=event.type).inc()
        return len(fresh)

    async def _export_lag(self) -> None:
        for partition in self._consumer.assignment():
            highwater = self._consumer.highwater(partition)
            if highwater is None:  # nothing fetched from it yet
                continue
            position = await self._consumer.position(partition)
            self._context.metrics.lag.labels(
                group=self.handler.name, topic=partition.topic, partition=str(partition.partition)
            ).set(max(0, highwater - position))

    async def _purge_seen(self) -> None:
        """Forget seen ids older than the longest retention: the broker cannot hand those out again."""
        longest_h = max(topic.retention_hours for topic in self._context.settings.events.topics.all())
        before = int(time.time()) - longest_h * 3600 - 86400
        async with self._context.database.transaction() as connection:
            await purge_before(connection, event_seen, "seen_at", before)


@asynccontextmanager
async def open_groups(
    settings: CitadelSettings,
    groups: Sequence[str],
    database: Database,
    metrics: ConsumerMetrics,
    publish: Callable[[str, Event], None],
) -> AsyncIterator[list[ConsumerGroup]]:
    """The started consumers of ``groups``, joined at the same time: a broker may hold a join for seconds
    (Tansu holds each for 5 s), which one after the other made ``citadel events consume`` slow to start."""
    async with AsyncExitStack() as stack:
        entered = await asyncio.gather(
            *(stack.enter_async_context(open_group(settings, g, database, metrics, publish)) for g in groups),
            return_exceptions=True,  # every start settles before the stack unwinds the ones that did start
        )
        for result in entered:
            if isinstance(result, BaseException):
                raise result
        yield [result for result in entered if isinstance(result, ConsumerGroup)]


@asynccontextmanager
async def open_group(
    settings: CitadelSettings,
    group: str,
    database: Database,
    metrics: ConsumerMetrics,
    publish: Callable[[str, Event], None],
) -> AsyncIterator[ConsumerGroup]:
    """The started consumer of ``group`` (offsets committed by hand, from the earliest when it has none)."""
    from aiokafka import AIOKafkaConsumer

    context = HandlerContext(settings, database, metrics, publish)
    handler = make_handler(group, context)
    consumer = AIOKafkaConsumer(
        *handler.topics(),
        bootstrap_servers=settings.events.bootstrap_servers,
        client_id=f"{settings.events.client_id}-{group}",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        yield ConsumerGroup(handler, consumer, context)
    finally:
        await consumer.stop()
