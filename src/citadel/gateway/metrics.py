"""The gateway's Prometheus metrics: the blueprint's names (seed B.2.3) plus what balancing needs to be seen.

Every metric is registered on the registry it is given, so each app (and each test) has its own. With several
uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` is set before the workers start (see :mod:`.multiprocess`);
values then live in shared files and :meth:`GatewayMetrics.exposition` sums them over the workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

# The blueprint's buckets for llm_request_duration_seconds.
REQUEST_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# The gateway's own cost per request is counted in tens of microseconds.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)

M = TypeVar("M", Counter, Gauge, Histogram)


class GatewayMetrics:
    """All of the gateway's metrics, registered on ``registry``.

    >>> metrics = GatewayMetrics(CollectorRegistry())
    >>> metrics.requests.labels("phi-3-mini", "/v1/chat/completions", "success", "none").inc()
    """

    def __init__(self, registry: CollectorRegistry, *, multiprocess_dir: Path | None = None) -> None:
        self.registry = registry
        self._multiprocess_dir = multiprocess_dir
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "llm_requests_total",
            "Requests through the gateway, by the model that answered; cache says whether the response "
            "cache answered it (hit), was asked and forwarded it (miss) or was not asked (none).",
            ["model", "endpoint", "status", "cache"],
            registry=registry,
        )
        self.duration = Histogram(
            "llm_request_duration_seconds",
            "Request duration through the gateway.",
            ["model", "endpoint"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=registry,
        )
        self.active = Gauge(
            "llm_active_requests",
            "Requests in flight.",
            ["model"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.health = Gauge(
            "llm_model_health",
            "1 if at least one replica of the model is healthy.",
            ["model"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.tokens = Counter(
            "llm_tokens_processed_total",
            "Tokens processed, by type (prompt, completion).",
            ["model", "type"],
            registry=registry,
        )
        self.ttft = Histogram(
            "llm_time_to_first_token_seconds",
            "Time from the gateway receiving a streaming request to its first event from the model.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.overhead = Histogram(
            "llm_gateway_overhead_seconds",
            "Time spent in the gateway itself: the request's duration minus the upstream's.",
            ["model"],
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        self.upstream_latency = Histogram(
            "llm_upstream_latency_seconds",
            "Time from sending to a replica to its response headers.",
            ["model", "replica"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.replica_health = Gauge(
            "llm_replica_health",
            "1 if the replica is healthy.",
            ["model", "replica"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.outstanding = Gauge(
            "llm_replica_outstanding_requests",
            "Requests sent to the replica and not finished.",
            ["model", "replica"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.breaker_state = Gauge(
            "llm_circuit_breaker_state",
            "0 closed, 1 half-open, 2 open (the worst over workers).",
            ["model", "replica"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.breaker_transitions = Counter(
            "llm_circuit_breaker_transitions_total",
            "Circuit breaker state changes, by the state entered.",
            ["model", "replica", "state"],
            registry=registry,
        )
        self.retries = Counter(
            "llm_retries_total",
            "Attempts repeated on another replica, by why the previous one failed.",
            ["model", "reason"],
            registry=registry,
        )
        self.pool_exhausted = Counter(
            "llm_upstream_pool_exhausted_total",
            "Requests refused (503) because every connection allowed to the replica stayed busy for the "
            "pool timeout; not a failure of the replica.",
            ["model", "replica"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "llm_fallbacks_total",
            "Requests answered by a fallback model.",
            ["model", "fallback"],
            registry=registry,
        )
        self.routing = Counter(
            "llm_routing_decisions_total",
            "Virtual-model requests, by the rule that matched and the model it chose.",
            ["virtual_model", "rule", "model"],
            registry=registry,
        )

    def child(self, metric: M, *labels: str) -> M:
        """``metric.labels(*labels)``, remembered: ``labels()`` checks and locks on every call, and the hot
        path asks for the same few label sets again and again (they are bounded by the config)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return cast(M, found)

    def exposition(self) -> bytes:
        """The text format for ``/metrics``: this process's values, or every worker's summed."""
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)
