"""The event producer: write-behind to the broker; ``publish`` never blocks the caller.

:class:`citadel.write_behind.WriteBehind` does the buffering, batching, spilling and replaying; this says
how a batch reaches the broker and how an event reads as a spill line. A batch that failed half-way is
spilled whole, so an event may reach the broker twice: consumers keep each event id once
(:mod:`citadel.events.dedupe`), which makes delivery exactly once per event id at the consumer.

    publisher = EventPublisher(KafkaSink(settings.events), settings.events, SpillFile(path), metrics)
    publisher.start()
    publisher.publish(settings.events.topics.requests.name, Event.new("request_processed", rid, {...}))
    await publisher.aclose()
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from citadel.config.events import EventSettings
from citadel.events.metrics import EventMetrics
from citadel.events.schema import Event, Routed
from citadel.events.sink import EventSink
from citadel.events.spill import SpillFile
from citadel.write_behind import WriteBehind, WriteBehindCounters, WriteBehindLimits

_LINGER_S = 0.05  # lets a batch fill a little: one round trip for many events


class EventPublisher(WriteBehind[Routed]):
    name = "events"
    destination = "broker"

    def __init__(
        self, sink: EventSink, settings: EventSettings, spill: SpillFile, metrics: EventMetrics
    ) -> None:
        producer = settings.producer
        limits = WriteBehindLimits(
            producer.queue_size, producer.batch_size, _LINGER_S, producer.retry_interval_s
        )
        # An unreadable spill line is a lost event: the events have one counter for both.
        counters = WriteBehindCounters(metrics.spilled, metrics.lost, metrics.replayed, metrics.lost)
        super().__init__(spill, limits, counters)
        self._sink = sink
        self._metrics = metrics
        self.topics = settings.topics

    def publish(self, topic: str, event: Event) -> None:
        """Queue ``event`` for ``topic``; never blocks, never raises."""
        self.submit(Routed(topic, event))

    @property
    def broker_down(self) -> bool:
        return self.destination_down

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Send everything queued; what cannot reach the broker in ``timeout_s`` goes to the spill file."""
        await super().aclose(timeout_s)
        await self._sink.aclose()

    async def deliver(self, batch: Sequence[Routed]) -> None:
        await self._sink.send(batch)  # BrokerUnavailable is an Unreachable
        for topic, count in collections.Counter(routed.topic for routed in batch).items():
            self._metrics.published.labels(topic=topic).inc(count)

    def encode(self, item: Routed) -> str:
        return item.to_json()

    def decode(self, line: str) -> Routed:
        return Routed.from_json(line)
