"""What a consumer group's handler is: the topics it reads, a function per event, work after each batch.

``handle`` runs inside the transaction that records the event id as seen: its writes and the id commit
together, or neither does (then the offsets are not committed and the event comes again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.config import CitadelSettings
from citadel.events.consumer_metrics import ConsumerMetrics
from citadel.events.schema import FEEDBACK_SUBMITTED, REQUEST_PROCESSED, Event
from citadel.store.database import Database


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

    async def handle(self, connection: AsyncConnection, event: Event) -> None: ...

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


def event_model(event: Event) -> str:
    data = event.data
    return str(data.get("served_model") or data.get("model") or "unknown")
