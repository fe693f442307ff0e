"""Metrics of the embedding service, with vLLM's names where vLLM has one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EmbeddingMetrics:
    def __init__(self, registry: CollectorRegistry, model_name: str) -> None:
        labels = ["model_name"]
        self.requests_running = Gauge(
            "vllm:num_requests_running", "Requests in the batch being encoded.", labels, registry=registry
        ).labels(model_name)
        self.requests_waiting = Gauge(
            "vllm:num_requests_waiting", "Requests queued for the next batch.", labels, registry=registry
        ).labels(model_name)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Input tokens embedded.", labels, registry=registry
        ).labels(model_name)
        self.e2e_latency = Histogram(
            "vllm:e2e_request_latency_seconds", "Request latency.", labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=registry,
        ).labels(model_name)  # fmt: skip
        self.batch_size = Histogram(
            "citadel:embedding_batch_size", "Texts encoded together in one model call.", labels,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry,
        ).labels(model_name)  # fmt: skip
