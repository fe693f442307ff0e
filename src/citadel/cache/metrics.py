"""Response-cache metrics, on the registry the caller passes (a fresh one per test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.hits = Counter(
            "llm_cache_hits_total", "Requests answered from the response cache.", ["model"], registry=registry
        )
        self.misses = Counter(
            "llm_cache_misses_total",
            "Cacheable requests the response cache could not answer.",
            ["model"],
            registry=registry,
        )
        self.stores = Counter(
            "llm_cache_stores_total", "Answers written to the response cache.", ["model"], registry=registry
        )
        self.errors = Counter(
            "llm_cache_errors_total",
            "Cache operations that failed (backend unreachable); a failed read is a miss.",
            ["operation"],
            registry=registry,
        )


class SemanticCacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.hits = Counter(
            "llm_semantic_cache_hits_total",
            "Requests answered from the semantic cache (a similar enough earlier prompt).",
            ["model"],
            registry=registry,
        )
        self.misses = Counter(
            "llm_semantic_cache_misses_total",
            "Semantic-cache lookups without a similar enough entry.",
            ["model"],
            registry=registry,
        )
