"""Where the producer delivers a batch: a small interface, the Kafka-protocol backend behind it.

A sink raises :class:`BrokerUnavailable` for "not delivered, try later"; the producer then spills the batch.
aiokafka is imported only when ``events.sink: kafka``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from citadel.config.events import EventSettings
from citadel.events.schema import Routed

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
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
            futures = [
                await producer.send(
                    routed.topic, routed.event.to_json().encode(), key=routed.event.key.encode()
                )
                for routed in batch
            ]
            async with asyncio.timeout(self._settings.producer.request_timeout_s * 2):
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

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
