"""What a consumer group's handler is: the topics it reads, a function per event, work after each batch.

``handle`` runs inside the transaction that records the batch's event ids as seen: its writes and the ids
commit together, or neither does (then the offsets are not committed and the events come again). Handlers
sum a batch per row in memory first (:class:`Sums`), so a batch costs one upsert per row it touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.config import CitadelSettings
from citadel.events.consumer_metrics import ConsumerMetrics
from citadel.events.schema import FEEDBACK_SUBMITTED, REQUEST_PROCESSED, Event
from citadel.store.database import Database
from citadel.store.event_rows import upsert_add


class RetryLater(Exception):
    """A handler's dependency (e.g. Alertmanager) is away: the batch is rolled back and read again later."""


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: CitadelSettings
    database: Database
    metrics: ConsumerMetrics
    publish: Callable[[str, Event], None]  # (topic, event): follow-up events, e.g. anomaly_detected


class Handler(Protocol):
    name: str

    def __init__(self, context: HandlerContext) -> None: ...

    def topics(self) -> list[str]: ...

    async def handle(self, connection: AsyncConnection, events: list[Event]) -> None:
        """The batch's events not seen before, in partition order."""

    async def after_batch(self) -> None:
        """Work once a batch is committed (thresholds, gauges); may run with nothing new."""

    async def finish_run(self) -> None:
        """Scheduled work at the end of a run (``--once``: the timer's job), and retention."""


def bucket(at: float, interval_s: int) -> int:
    """The start (epoch seconds) of the ``interval_s`` bucket holding ``at``.

    >>> bucket(1000.0, 300)
    900
    """
    return int(at // interval_s) * interval_s


def sums(event: Event) -> Mapping[str, float]:
    """The additive columns an event adds to an aggregate row (nothing for other event types)."""
    data: Mapping[str, Any] = event.data
    if event.type == REQUEST_PROCESSED:
        return {
            "requests": 1,
            "errors": 1 if int(data.get("status_code", 0)) >= 400 else 0,
            "cache_hits": 1 if data.get("cache_hit") else 0,
            "prompt_tokens": int(data.get("prompt_tokens", 0)),
            "completion_tokens": int(data.get("completion_tokens", 0)),
            "cost": float(data.get("cost") or 0.0),
            "latency_ms_sum": float(data.get("latency_ms", 0.0)),
        }
    if event.type == FEEDBACK_SUBMITTED:
        accuracy = data.get("accuracy")
        return {
            "feedback_count": 1,
            "rating_sum": float(data["rating"]),
            "accuracy_count": 0 if accuracy is None else 1,
            "accuracy_sum": 0.0 if accuracy is None else float(accuracy),
            "helpful_count": 1 if data.get("helpful") else 0,
            "business_value": float(data.get("business_value") or 0.0),
        }
    return {}


class Sums:
    """Additive columns summed per row key over a batch, then written with one upsert per row."""

    def __init__(self) -> None:
        self.rows: dict[tuple[Any, ...], dict[str, float]] = {}
        self.maxima: dict[tuple[Any, ...], dict[str, float]] = {}

    def add(
        self, key: tuple[Any, ...], adds: Mapping[str, float], maxima: Mapping[str, float] | None = None
    ) -> None:
        row = self.rows.setdefault(key, {})
        for name, value in adds.items():
            row[name] = row.get(name, 0) + value
        if maxima:
            top = self.maxima.setdefault(key, {})
            for name, value in maxima.items():
                top[name] = max(top.get(name, value), value)

    async def write(self, connection: AsyncConnection, table: Table, key_names: tuple[str, ...]) -> None:
        for key, adds in self.rows.items():
            row_key = dict(zip(key_names, key, strict=True))
            await upsert_add(connection, table, row_key, adds, self.maxima.get(key))


def event_model(event: Event) -> str:
    data = event.data
    return str(data.get("served_model") or data.get("model") or "unknown")
