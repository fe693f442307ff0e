"""The live surfaces' own metrics; the requests they carry are counted by the gateway's (``llm_*``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LiveMetrics:
    """Open streams and dropped readers, by transport (``ws``, ``sse``, ``graphql``).

    >>> metrics = LiveMetrics(CollectorRegistry())
    >>> metrics.connections.labels("ws", "/ws/metrics").inc()
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "citadel_live_connections",
            "Open WebSocket and SSE streams, by transport and endpoint.",
            ["transport", "endpoint"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.dropped = Counter(
            "citadel_live_dropped_total",
            "Streams closed because their reader fell a whole send buffer behind.",
            ["transport", "endpoint"],
            registry=registry,
        )
        self.refused = Counter(
            "citadel_live_refused_total",
            "Streams refused at the start, by reason (auth, limit).",
            ["transport", "reason"],
            registry=registry,
        )
        self.graphql = Counter(
            "citadel_graphql_operations_total",
            "GraphQL operations, by type (query, mutation, subscription) and result (success, error).",
            ["type", "result"],
            registry=registry,
        )
        self.signins = Counter(
            "citadel_console_signins_total",
            "Console sign-ins, by result (success, failed, throttled).",
            ["result"],
            registry=registry,
        )
