"""The producer's metrics, registered on the registry the caller passes (a fresh one per test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class EventMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.published = Counter(
            "citadel_events_published_total", "Events the broker acknowledged.", ["topic"], registry=registry
        )
        self.spilled = Counter(
            "citadel_events_spilled_total",
            "Events written to the local spill file (broker unreachable, queue full, shutdown).",
            ["reason"],
            registry=registry,
        )
        self.replayed = Counter(
            "citadel_events_replayed_total",
            "Spilled events delivered once the broker was back.",
            registry=registry,
        )
        self.lost = Counter(
            "citadel_events_lost_total",
            "Events dropped: the spill file was not writable, or a spilled line was unreadable.",
            registry=registry,
        )
