"""The served embedding model as the routes see it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from citadel.embedding_service.batcher import DynamicBatcher
from citadel.embedding_service.encoder import SentenceEncoder
from citadel.embedding_service.metrics import EmbeddingMetrics
from citadel.tracing import RequestTracer


@dataclass
class EmbeddingService:
    name: str
    encoder: SentenceEncoder
    batcher: DynamicBatcher
    metrics: EmbeddingMetrics
    max_tokens: int
    created: int = field(default_factory=lambda: int(time.time()))
    tracer: RequestTracer = field(default_factory=lambda: RequestTracer(None))
