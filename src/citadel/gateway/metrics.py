"""The gateway's Prometheus metrics, with the blueprint's names (seed B.2.3)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The blueprint's buckets for llm_request_duration_seconds.
REQUEST_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """Registered on the registry it is given, so each app (and each test) has its own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "llm_requests_total",
            "Requests through the gateway.",
            ["model", "endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "llm_request_duration_seconds",
            "Request duration through the gateway.",
            ["model", "endpoint"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=registry,
        )
        self.active = Gauge("llm_active_requests", "Requests in flight.", ["model"], registry=registry)
        self.health = Gauge(
            "llm_model_health", "1 if the model service is healthy.", ["model"], registry=registry
        )
        self.tokens = Counter(
            "llm_tokens_processed_total",
            "Tokens processed, by type (prompt, completion).",
            ["model", "type"],
            registry=registry,
        )

    def record_usage(self, model: str, usage: dict[str, object]) -> None:
        for kind in ("prompt", "completion"):
            count = usage.get(f"{kind}_tokens")
            if isinstance(count, int) and count > 0:
                self.tokens.labels(model, kind).inc(count)
