"""Test helpers on the real broker: settings pointed at it, and a consumer that collects what arrives."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from citadel.config import CitadelSettings
from citadel.events.schema import Event
from tests.events.broker import TansuBroker


def event_settings(
    tmp_path: Path, broker: TansuBroker, sections: dict[str, Any] | None = None, **events: Any
) -> CitadelSettings:
    """Settings with ``events`` on ``broker`` (``events`` keys as keyword arguments, other ``sections``)."""
    producer = {"retry_interval_s": 0.5, "request_timeout_s": 2.0, **events.pop("producer", {})}
    consumers = {"metrics_port": 0, "poll_timeout_s": 0.5, **events.pop("consumers", {})}
    return CitadelSettings(
        data_dir=tmp_path / "var",
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'citadel.db'}"},
        events={
            "sink": "kafka",
            "bootstrap_servers": broker.bootstrap,
            "producer": producer,
            "consumers": consumers,
            **events,
        },
        **(sections or {}),
    )


class Collector:
    """Every event on ``topics`` from the earliest offset, with the partition it came from."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        self.events: list[tuple[int, Event]] = []

    async def __aenter__(self) -> Collector:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def until(self, count: int, timeout_s: float = 30.0) -> list[tuple[int, Event]]:
        """Poll until at least ``count`` events arrived (or the time is up), then briefly for extras."""
        deadline = time.monotonic() + timeout_s
        while len(self.events) < count and time.monotonic() < deadline:
            await self._poll(500)
        await self._poll(300)  # any duplicates right behind
        return self.events

    async def _poll(self, timeout_ms: int) -> None:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        for partition, messages in batches.items():
            self.events += [(partition.partition, Event.from_json(message.value)) for message in messages]
        await asyncio.sleep(0)
