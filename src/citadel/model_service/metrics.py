"""vLLM's metric names on the built-in model service, so one dashboard reads vLLM and Citadel alike."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ModelServiceMetrics:
    """The metrics of one served model, registered on the registry it is given (one per app)."""

    def __init__(self, registry: CollectorRegistry, model_name: str) -> None:
        labels = ["model_name"]
        self.requests_running = Gauge(
            "vllm:num_requests_running", "Requests being generated.", labels, registry=registry
        ).labels(model_name)
        self.requests_waiting = Gauge(
            "vllm:num_requests_waiting", "Requests queued for the engine.", labels, registry=registry
        ).labels(model_name)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Prompt tokens processed.", labels, registry=registry
        ).labels(model_name)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Tokens generated.", labels, registry=registry
        ).labels(model_name)
        self.time_to_first_token = Histogram(
            "vllm:time_to_first_token_seconds",
            "Time to first token.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ).labels(model_name)
        self.e2e_latency = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Request latency, arrival to last token.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ).labels(model_name)
        self.inter_token_latency = Histogram(
            "vllm:inter_token_latency_seconds",
            "Time between two tokens of one request.",
            labels,
            buckets=(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        ).labels(model_name)
        self.queue_time = Histogram(
            "vllm:request_queue_time_seconds",
            "Time a request waited before the engine took it.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ).labels(model_name)
        self.kv_cache_usage = Gauge(
            "vllm:kv_cache_usage_perc",
            "Fraction of KV-cache cells in use (1 = full).",
            labels,
            registry=registry,
        ).labels(model_name)
        self.prefix_cache_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prompt tokens looked up in the prefix cache.",
            labels,
            registry=registry,
        ).labels(model_name)
        self.prefix_cache_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prompt tokens served from the prefix cache.",
            labels,
            registry=registry,
        ).labels(model_name)
        self._success = Counter(
            "vllm:request_success",
            "Finished requests by finish reason.",
            [*labels, "finished_reason"],
            registry=registry,
        )
        self._model_name = model_name

    def finished(self, reason: str) -> None:
        self._success.labels(self._model_name, reason).inc()
