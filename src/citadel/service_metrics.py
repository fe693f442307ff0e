"""The metrics every Citadel model service exports, under vLLM's names and its ``model_name`` label."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """Requests running and waiting, prompt tokens and end-to-end latency, on the given registry."""

    def __init__(self, registry: CollectorRegistry, model_name: str) -> None:
        self.registry = registry
        self.model_name = model_name
        # process_resident_memory_bytes and friends: the memory panel and capacity alerts read them.
        ProcessCollector(registry=registry)
        self.requests_running = self.gauge("vllm:num_requests_running", "Requests being processed.")
        self.requests_waiting = self.gauge("vllm:num_requests_waiting", "Requests queued for the engine.")
        self.prompt_tokens = self.counter("vllm:prompt_tokens", "Prompt (input) tokens processed.")
        self.e2e_latency = self.histogram(
            "vllm:e2e_request_latency_seconds", "Request latency, arrival to last token.", LATENCY_BUCKETS
        )

    def gauge(self, name: str, help_text: str) -> Gauge:
        return Gauge(name, help_text, ["model_name"], registry=self.registry).labels(self.model_name)

    def counter(self, name: str, help_text: str) -> Counter:
        return Counter(name, help_text, ["model_name"], registry=self.registry).labels(self.model_name)

    def histogram(self, name: str, help_text: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, help_text, ["model_name"], buckets=buckets, registry=self.registry).labels(
            self.model_name
        )
