"""Metrics of the embedding service, with vLLM's names where vLLM has one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from citadel.service_metrics import ServiceMetrics


class EmbeddingMetrics(ServiceMetrics):
    def __init__(self, registry: CollectorRegistry, model_name: str) -> None:
        super().__init__(registry, model_name)
        self.batch_size = self.histogram(
            "citadel:embedding_batch_size",
            "Texts encoded together in one model call.",
            (1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
