"""A hot reload is one ``config_changed`` business event, however many gateway workers apply it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from citadel.events.gateway import GatewayEvents
from citadel.events.schema import CONFIG_CHANGED
from citadel.events.topics import ensure_topics
from tests.events.broker import TansuBroker
from tests.events.kafka import Collector, event_settings

pytestmark = pytest.mark.timeout(90)

CONFIG = "gateway:\n  port: 8000\n"


async def test_each_worker_reports_an_applied_config_under_one_event_id(
    tmp_path: Path, broker: TansuBroker
) -> None:
    settings = event_settings(tmp_path, broker)
    await ensure_topics(settings.events)
    events = GatewayEvents.open(settings)
    assert events is not None
    try:
        events.config_applied(3, 7, CONFIG)  # worker 1
        events.config_applied(3, 7, CONFIG)  # worker 2, the same generation
        events.config_applied(4, 8, CONFIG + "# edited\n")  # the next reload
    finally:
        await events.aclose()  # flushes what is queued
    async with Collector(broker.bootstrap, settings.events.topics.business.name) as collector:
        arrived = [event for _, event in await collector.until(3, timeout_s=20)]
    changes = [event for event in arrived if event.type == CONFIG_CHANGED]
    assert len(changes) == 3
    assert len({event.id for event in changes}) == 2  # what a consumer deduplicating on the id keeps
    by_generation = {event.data["generation"]: event for event in changes}
    assert by_generation[3].data["version"] == 7
    assert by_generation[3].data["sha256"] == hashlib.sha256(CONFIG.encode()).hexdigest()
    assert by_generation[4].data["version"] == 8
    assert CONFIG not in str([event.data for event in changes])  # the text (secrets) is not published
