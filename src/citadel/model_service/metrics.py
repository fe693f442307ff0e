"""vLLM's metric names on the built-in model service, so one dashboard reads vLLM and Citadel alike."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from citadel.service_metrics import LATENCY_BUCKETS, ServiceMetrics

_INTER_TOKEN_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5)


class ModelServiceMetrics(ServiceMetrics):
    """The metrics of one served generative model, registered on the registry it is given (one per app)."""

    def __init__(self, registry: CollectorRegistry, model_name: str) -> None:
        super().__init__(registry, model_name)
        self.generation_tokens = self.counter("vllm:generation_tokens", "Tokens generated.")
        self.time_to_first_token = self.histogram(
            "vllm:time_to_first_token_seconds", "Time to first token.", LATENCY_BUCKETS
        )
        self.inter_token_latency = self.histogram(
            "vllm:inter_token_latency_seconds",
            "Time between two tokens of one request.",
            _INTER_TOKEN_BUCKETS,
        )
        self.queue_time = self.histogram(
            "vllm:request_queue_time_seconds",
            "Time a request waited before the engine took it.",
            LATENCY_BUCKETS,
        )
        self.kv_cache_usage = self.gauge(
            "vllm:kv_cache_usage_perc", "Fraction of KV-cache cells in use (1 = full)."
        )
        self.prefix_cache_queries = self.counter(
            "vllm:prefix_cache_queries", "Prompt tokens looked up in the prefix cache."
        )
        self.prefix_cache_hits = self.counter(
            "vllm:prefix_cache_hits", "Prompt tokens served from the prefix cache."
        )
        self._success = Counter(
            "vllm:request_success",
            "Finished requests by finish reason.",
            ["model_name", "finished_reason"],
            registry=registry,
        )

    def finished(self, reason: str) -> None:
        self._success.labels(self.model_name, reason).inc()
