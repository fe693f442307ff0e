"""Where the producer delivers a batch: a small interface, the Kafka-protocol backend behind it.

A sink raises :class:`BrokerUnavailable` for "not delivered, try later"; the producer then spills the batch.
aiokafka is imported only when ``events.sink: kafka``.

The Kafka sink builds one record batch per partition itself and hands each to aiokafka whole: per-message
``send()`` (a coroutine, a pure-Python murmur2 hash and a future per event) was a fifth of a gateway's
CPU with events on. An event's partition is the CRC-32 of its key modulo the topic's partitions, so one
request's events share a partition and keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from citadel.config.events import EventSettings
from citadel.events.schema import Routed
from citadel.write_behind import Unreachable

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

logger = logging.getLogger(__name__)

_MAX_BATCH_BYTES = 1024 * 1024  # Kafka's default message.max.bytes is a little more than this


class BrokerUnavailable(Unreachable):
    """The batch was not (or not surely) delivered; it is to be spilled and replayed."""


class EventSink(Protocol):
    async def send(self, batch: Sequence[Routed]) -> None: ...

    async def aclose(self) -> None: ...


class KafkaSink:
    """aiokafka's producer, started on first use and restarted after the broker was away."""

    def __init__(self, settings: EventSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        from aiokafka import AIOKafkaProducer

        producer_settings = self._settings.producer
        timeout_ms = int(producer_settings.request_timeout_s * 1000)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._settings.client_id,
            enable_idempotence=producer_settings.idempotent,
            acks="all",
            linger_ms=5,
            # One record batch per partition per send: a second batch of a partition waits for the
            # first one's round trip (aiokafka keeps one request in flight per partition, for order).
            max_batch_size=_MAX_BATCH_BYTES,
            request_timeout_ms=timeout_ms,
            retry_backoff_ms=200,
        )
        try:
            async with asyncio.timeout(producer_settings.request_timeout_s):
                await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        return producer

    async def send(self, batch: Sequence[Routed]) -> None:
        from aiokafka.errors import KafkaError

        try:
            producer = await self._started()
            futures = await self._submit(producer, batch)
            async with asyncio.timeout(self._settings.producer.request_timeout_s * 2):
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    async def _submit(producer: AIOKafkaProducer, batch: Sequence[Routed]) -> list[asyncio.Future[Any]]:
        """Queue ``batch`` as one record batch per partition (more when one fills); their futures."""
        by_partition: dict[tuple[str, int], list[tuple[bytes, Routed]]] = {}
        partitions: dict[str, int] = {}
        for routed in batch:
            count = partitions.get(routed.topic)
            if count is None:
                count = partitions[routed.topic] = len(await producer.partitions_for(routed.topic))
            key = routed.event.key.encode()
            by_partition.setdefault((routed.topic, zlib.crc32(key) % count), []).append((key, routed))
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), events in by_partition.items():
            builder = producer.create_batch()
            for key, routed in events:
                value = routed.event.encoded()
                if builder.append(key=key, value=value, timestamp=None) is None:
                    # Full: send it and start another, which takes its first record whatever its size.
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
                    builder = producer.create_batch()
                    builder.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return futures

    async def _reset(self) -> None:
        """Drop the producer: its buffered batches are in the spill file, a new one starts clean."""
        producer, self._producer = self._producer, None
        if producer is not None:
            from aiokafka.errors import KafkaError

            try:
                async with asyncio.timeout(self._settings.producer.request_timeout_s):
                    await producer.stop()
            except (KafkaError, OSError, TimeoutError) as exc:  # it was failing; what it held is spilled
                logger.debug("events: the old producer did not stop cleanly: %s", exc)

    async def aclose(self) -> None:
        await self._reset()
