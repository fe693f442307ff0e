"""The producer on a real broker: events under load arrive once each and in order per key; with the broker
stopped they wait in the spill file and arrive once it is back; the request path never waits."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from citadel.events.metrics import EventMetrics
from citadel.events.producer import EventPublisher
from citadel.events.schema import Event
from citadel.events.sink import KafkaSink
from citadel.events.spill import SpillFile
from citadel.events.topics import ensure_topics
from tests.events.broker import TansuBroker
from tests.events.kafka import Collector, event_settings

pytestmark = pytest.mark.timeout(120)

TOPIC = "llm_requests"


def _publisher(
    tmp_path: Path, broker: TansuBroker, registry: CollectorRegistry, **producer: object
) -> EventPublisher:
    settings = event_settings(tmp_path, broker, producer=producer)
    spill = SpillFile(tmp_path / "spill")
    return EventPublisher(KafkaSink(settings.events), settings.events, spill, EventMetrics(registry))


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_events_under_load_arrive_once_each_in_order_per_key(
    tmp_path: Path, broker: TansuBroker
) -> None:
    await ensure_topics(event_settings(tmp_path, broker).events)
    registry = CollectorRegistry()
    publisher = _publisher(tmp_path, broker, registry)
    publisher.start()
    sent = [Event.new("request_processed", f"req-{i % 50}", {"seq": i}) for i in range(3000)]
    slowest = 0.0
    for event in sent:
        started = time.perf_counter()
        publisher.publish(TOPIC, event)
        slowest = max(slowest, time.perf_counter() - started)
    await publisher.aclose()
    assert _value(registry, "citadel_events_published_total", topic=TOPIC) == 3000
    async with Collector(broker.bootstrap, TOPIC) as collector:
        received = await collector.until(3000)
    ids = Counter(event.id for _, event in received)
    assert set(ids) == {event.id for event in sent}
    assert max(ids.values()) == 1
    partitions: dict[str, set[int]] = {}
    for partition, event in received:  # one key, one partition, and its events in publishing order
        partitions.setdefault(event.key, set()).add(partition)
    assert all(len(found) == 1 for found in partitions.values())
    assert len({p for found in partitions.values() for p in found}) > 1  # keys spread over partitions
    by_key: dict[str, list[int]] = {}
    for _, event in received:
        by_key.setdefault(event.key, []).append(event.data["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values())
    print(f"\nload: 3000 published, {len(received)} received, slowest publish() {slowest * 1e6:.0f} µs")


async def test_a_broker_outage_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, broker: TansuBroker
) -> None:
    """200 events, the broker stopped, 300 more (spilled), the broker back (memory-only: empty, topics made
    again), 200 more: each of the 700 ids arrives, once per id at a deduplicating consumer."""
    settings = event_settings(tmp_path, broker)
    await ensure_topics(settings.events)
    registry = CollectorRegistry()
    publisher = _publisher(tmp_path, broker, registry)
    publisher.start()
    sent = [Event.new("request_processed", f"req-{i}", {"seq": i}) for i in range(700)]
    async with Collector(broker.bootstrap, TOPIC) as collector:
        for event in sent[:200]:
            publisher.publish(TOPIC, event)
        before = await collector.until(200)
        assert len({event.id for _, event in before}) == 200
    broker.stop()
    slowest = 0.0
    for event in sent[200:500]:
        started = time.perf_counter()
        publisher.publish(TOPIC, event)
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.002)  # spread over a while: the producer notices the broker is gone
    deadline = time.monotonic() + 30
    while _spilled(registry) < 300 and time.monotonic() < deadline:  # noqa: ASYNC110 -- a counter
        await asyncio.sleep(0.2)
    spilled = _spilled(registry)
    assert spilled >= 300
    broker.start()
    await ensure_topics(settings.events)
    for event in sent[500:]:
        publisher.publish(TOPIC, event)
    deadline = time.monotonic() + 60
    while _value(registry, "citadel_events_replayed_total") < spilled and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await publisher.aclose()
    async with Collector(broker.bootstrap, TOPIC) as collector:
        after = await collector.until(500)
    ids = Counter(event.id for _, event in before + after)
    distinct = len(set(ids) & {event.id for event in sent})
    duplicated = sum(count - 1 for count in ids.values())
    lost = 700 - distinct
    replayed = _value(registry, "citadel_events_replayed_total")
    print(
        f"\noutage: 700 published, 200 before the stop, {spilled:.0f} spilled while down "
        f"({_spilled(registry):.0f} in all), {replayed:.0f} replayed, "
        f"{distinct} distinct, {duplicated} duplicated (dropped by consumers' id check), {lost} lost; "
        f"slowest publish() while down {slowest * 1e6:.0f} µs"
    )
    assert lost == 0
    assert replayed >= 300
    assert not list((tmp_path / "spill").glob("*.jsonl"))  # every spill file replayed and removed


def _spilled(registry: CollectorRegistry) -> float:
    return sum(_value(registry, "citadel_events_spilled_total", reason=r) for r in ("broker", "queue_full"))


async def test_a_full_queue_spills_instead_of_waiting(tmp_path: Path, broker: TansuBroker) -> None:
    registry = CollectorRegistry()
    publisher = _publisher(tmp_path, broker, registry, queue_size=10)
    publisher.start()
    for i in range(100):  # faster than any broker: the queue overflows into the spill file
        publisher.publish(TOPIC, Event.new("request_processed", f"r{i}", {}))
    assert _value(registry, "citadel_events_spilled_total", reason="queue_full") >= 80
    await publisher.aclose()
