"""The typed sections of Citadel's config file.

Each section is a frozen pydantic model so that a loaded config is a value: passed in, never mutated.
Sections that later capabilities fill (database, redis, vectors, events, auth) already carry their
embedded defaults, all pointing at this machine. The ``models:`` entries live in
:mod:`citadel.config.models`, the shared base in :mod:`citadel.config.base`; both are re-exported here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from citadel.config.base import NAME_PATTERN as _NAME_PATTERN
from citadel.config.base import MemorySize, Section, parse_memory, reachable_host
from citadel.config.events import EventSettings
from citadel.config.models import (
    Backend,
    Balancing,
    EmbeddingLimits,
    EmbeddingModel,
    EngineLimits,
    LlamaCppModel,
    LocalModel,
    LocalModelSettings,
    ModelSettings,
    PerformanceTargets,
    RemoteLimits,
    RemoteModel,
    ReplicaSettings,
    UpstreamTimeouts,
    VllmLimits,
    VllmModel,
    as_backend,
)
from citadel.config.secrets import SecretUrl
from citadel.config.splits import SplitSettings

__all__ = [
    "SEED_COLLECTIONS",
    "AuthSettings",
    "Backend",
    "Balancing",
    "CacheSettings",
    "CircuitBreakerSettings",
    "CorsSettings",
    "DatabaseSettings",
    "EmbeddingLimits",
    "EmbeddingModel",
    "EngineLimits",
    "EventSettings",
    "GatewaySettings",
    "LlamaCppModel",
    "LocalModel",
    "LocalModelSettings",
    "MemorySize",
    "MetricsSettings",
    "ModelCachePolicy",
    "ModelPrice",
    "ModelSettings",
    "PerformanceTargets",
    "RateLimitSettings",
    "RedisSettings",
    "RemoteLimits",
    "RemoteModel",
    "ReplicaSettings",
    "RequestLogSettings",
    "RetrievalDefault",
    "RoutingRule",
    "RuleCondition",
    "SecretUrl",
    "Section",
    "SemanticCacheSettings",
    "SupervisorSettings",
    "TierLimits",
    "TracingSettings",
    "UpstreamTimeouts",
    "VectorSettings",
    "VirtualModelSettings",
    "VllmLimits",
    "VllmModel",
    "as_backend",
    "parse_memory",
    "reachable_host",
]


class CorsSettings(Section):
    allow_origins: list[str] = Field(default_factory=lambda: ["*"])
    allow_methods: list[str] = Field(default_factory=lambda: ["*"])
    allow_headers: list[str] = Field(default_factory=lambda: ["*"])
    allow_credentials: bool = False


class CircuitBreakerSettings(Section):
    """Per-replica circuit breaker (seed F.1.1 ``circuit_breaker_patterns``)."""

    enabled: bool = True
    failure_threshold: int = Field(
        default=50, ge=1, le=100, description="Percent of failed calls in the window that opens the breaker."
    )
    window_s: float = Field(default=30.0, gt=0, description="The seed's `timeout`: the window measured.")
    minimum_calls: int = Field(default=10, ge=1, description="Calls in the window before the rate counts.")
    recovery_timeout_s: float = Field(default=60.0, gt=0, description="Open this long, then half-open.")
    half_open_max_calls: int = Field(
        default=10, ge=1, description="Trial calls let through half-open; that many successes close it."
    )


class RuleCondition(Section):
    """What a request must look like for a routing rule to apply; every given key must hold."""

    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    capabilities: list[str] = Field(
        default_factory=list, description="Tags the request asks for (header x-citadel-capabilities)."
    )


class RoutingRule(Section):
    """One rule of a virtual model: if ``when`` holds, pick one of ``models`` by ``pick``."""

    name: str = Field(pattern=_NAME_PATTERN)
    when: RuleCondition = Field(default_factory=RuleCondition)
    models: list[str] = Field(min_length=1)
    pick: Literal["first_available", "least_loaded", "cheapest"] = "first_available"


class VirtualModelSettings(Section):
    """A model name clients may send that the gateway resolves to a real model by the first matching rule."""

    name: str = Field(pattern=_NAME_PATTERN)
    rules: list[RoutingRule] = Field(min_length=1)


class GatewaySettings(Section):
    """The OpenAI-compatible front door (seed 3.3, D.1.2 step 7)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    health_interval_s: float = Field(default=30.0, gt=0, description="Seconds between model health probes.")
    health_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    request_timeout_s: float = Field(default=600.0, gt=0)
    max_connections: int = Field(default=512, ge=1, description="Upstream connections open in all.")
    max_connections_per_replica: int = Field(
        default=128, ge=1, description="Upstream connections open to any one replica."
    )
    pool_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for a free upstream connection; then 503 (not a replica failure).",
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest request body; larger ones get 413 unread. Default: room for the longest "
        "configured context window (32 bytes per token, at least 1 MiB).",
    )
    memory_limit: MemorySize = Field(default="2G", description="The gateway unit's MemoryMax (seed D.1.2).")
    cpu_quota: int = Field(default=200, ge=1, description="The gateway unit's CPUQuota, percent of one CPU.")
    cors: CorsSettings = Field(default_factory=CorsSettings)
    first_byte_timeout_s: float = Field(
        default=300.0, gt=0, description="Default wait for an upstream's first byte (headers or SSE event)."
    )
    health_failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed probes or connections that mark a replica down."
    )
    health_recovery_threshold: int = Field(
        default=2, ge=1, description="Consecutive good probes that bring a replica back."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Upstream attempts per request, across replicas and fallbacks."
    )
    circuit_breaker: CircuitBreakerSettings = Field(default_factory=CircuitBreakerSettings)
    routes: list[VirtualModelSettings] = Field(
        default_factory=list, description="Virtual models (e.g. `auto`) resolved by rules."
    )
    splits: list[SplitSettings] = Field(
        default_factory=list, description="A/B and canary splits of a name among model variants."
    )
    log_format: Literal["json", "text"] = "json"
    access_log: bool = Field(default=False, description="One JSON log line per proxied request.")

    @property
    def memory_limit_bytes(self) -> int:
        return parse_memory(self.memory_limit)


class SupervisorSettings(Section):
    """How ``citadel up`` runs the local services."""

    start_limit_burst: int = Field(
        default=5, ge=1, description="Crashes within start_limit_interval_s that make it give a service up."
    )
    start_limit_interval_s: float = Field(
        default=120.0, gt=0, description="As systemd's StartLimitIntervalSec."
    )
    oversubscribe_cores: bool = Field(
        default=False,
        description="Allow more engine threads in total than this machine has cores (they then contend).",
    )


class DatabaseSettings(Section):
    """Request logs, keys and audit (seed B.2.1). Embedded default: SQLite under ``data_dir``."""

    url: SecretUrl = Field(
        default=SecretUrl("sqlite+aiosqlite:///var/citadel.db"),
        description="A SQLAlchemy URL; its password is masked wherever the URL is shown.",
    )
    pool_min: int = Field(default=5, ge=0)
    pool_max: int = Field(default=20, ge=1)
    connect_timeout_s: float = Field(default=30.0, gt=0)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    migrate_on_start: bool = Field(default=True, description="Run the schema migrations when opened.")


class RedisSettings(Section):
    """Rate limits and the response cache in production; ``url: null`` keeps both in-process."""

    url: SecretUrl | None = Field(default=None, description="Its password is masked wherever it is shown.")


SEED_COLLECTIONS = (
    "mixtral_embeddings",
    "hermes_embeddings",
    "openchat_embeddings",
    "phi3_embeddings",
    "deepcoder_embeddings",
    "deepseek_embeddings",
    "imp_embeddings",
    "mimo_embeddings",
    "yi34_embeddings",
)
_COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class RetrievalDefault(Section):
    """Retrieval a model's chat requests get when they do not ask for it themselves."""

    collection: str = Field(pattern=_COLLECTION_PATTERN)
    top_k: int = Field(default=4, ge=1, le=64)


class VectorSettings(Section):
    """Embedding storage (seed B.2.2). Embedded default: Qdrant's on-disk local mode."""

    url: str | None = Field(default=None, description="A Qdrant server (REST, e.g. :6333); null: local mode.")
    path: Path = Path("var/vectors")
    collections: list[str] = Field(
        default_factory=lambda: list(SEED_COLLECTIONS), description="Created at start when missing."
    )
    prefer_grpc: bool = Field(default=False, description="Talk to the server over gRPC (seed: 6334).")
    grpc_port: int = Field(default=6334, ge=1, le=65535)
    api_key: SecretStr | None = Field(default=None, description="The Qdrant server's API key, if it has one.")
    timeout_s: float = Field(default=10.0, gt=0, description="Budget of one vector-store call.")
    embedding_model: str | None = Field(
        default=None,
        description="The configured model that embeds texts; default: the first embedding model.",
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="Vector size; default: asked from the embedding model at start."
    )
    retrieval: dict[str, RetrievalDefault] = Field(
        default_factory=dict, description="Per chat model: retrieval applied when a request asks for none."
    )
    max_context_chars: int = Field(
        default=8000, ge=100, description="Most characters of retrieved text prepended to a chat request."
    )

    @field_validator("collections")
    @classmethod
    def _collection_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.match(_COLLECTION_PATTERN, name)]
        if bad:
            raise ValueError(f"collection names may hold letters, digits, '_', '.' and '-': {bad}")
        return value


class ModelCachePolicy(Section):
    """One model's response-cache policy."""

    mode: Literal["deterministic", "always", "never"] = Field(
        default="deterministic",
        description="deterministic: temperature 0 or a seed only; always; never (wins over the header).",
    )
    ttl_s: float | None = Field(default=None, gt=0, description="This model's TTL; default cache.ttl_s.")


class SemanticCacheSettings(Section):
    """Lookup by embedding similarity (off by default): a paraphrase of a cached prompt is a hit."""

    enabled: bool = False
    threshold: float = Field(default=0.95, gt=0, le=1, description="Cosine similarity that counts as a hit.")
    collection: str = Field(default="citadel_semantic_cache", pattern=_COLLECTION_PATTERN)


class CacheSettings(Section):
    """The response cache: Redis when ``redis.url`` is set, else an in-process LRU (per gateway worker)."""

    enabled: bool = True
    backend: Literal["memory", "redis"] | None = Field(
        default=None, description="Default: redis when redis.url is set, else memory."
    )
    ttl_s: float = Field(default=3600.0, gt=0, description="Seed: 3600 s.")
    max_entries: int = Field(default=10000, ge=1, description="In-process backend: most entries.")
    max_bytes: int = Field(default=256 * 1024**2, ge=1024, description="In-process backend: most bytes.")
    max_entry_bytes: int = Field(default=4 * 1024**2, ge=1024, description="Larger answers are not cached.")
    per_key: bool = Field(default=False, description="Isolate entries per API key.")
    redis_timeout_s: float = Field(default=0.25, gt=0, description="Budget of one cache round trip.")
    models: dict[str, ModelCachePolicy] = Field(default_factory=dict, description="Policy per model name.")
    semantic: SemanticCacheSettings = Field(default_factory=SemanticCacheSettings)


class AuthSettings(Section):
    """API-key authentication for the gateway. Off in the embedded default."""

    enabled: bool = False
    admin_key: SecretStr | None = Field(default=None, description="Bearer key of the admin API (a secret).")
    key_cache_ttl_s: float = Field(
        default=5.0, ge=0, description="How long a looked-up key is trusted (how soon others see revocation)."
    )


class MetricsSettings(Section):
    """Where Prometheus lives (seed B.2.3); ops assets render scrape configs against it."""

    prometheus_url: str = "http://127.0.0.1:9090"
    scrape_interval_s: int = Field(default=15, ge=1)


class TierLimits(Section):
    """One rate-limit tier (seed F.1.1 ``rate_limiting_per_user``); ``null`` means no limit on that window."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    requests_per_hour: int | None = Field(default=None, ge=1)
    requests_per_day: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


def _seed_tiers() -> dict[str, TierLimits]:
    def tier(rpm: int, rph: int, rpd: int) -> TierLimits:
        return TierLimits(requests_per_minute=rpm, requests_per_hour=rph, requests_per_day=rpd)

    return {
        "default": tier(100, 1000, 10000),
        "basic": tier(50, 500, 5000),
        "premium": tier(200, 2000, 20000),
        "enterprise": tier(1000, 10000, 100000),
    }


class RateLimitSettings(Section):
    """Per-key limits by tier: in Redis when ``redis.url`` is set (shared by all workers), else in-process."""

    enabled: bool = True
    tiers: dict[str, TierLimits] = Field(default_factory=_seed_tiers)
    default_tier: str = Field(default="default", description="Tier of a key created without one.")
    fail_open: bool = Field(
        default=True, description="Redis unreachable: admit (true) or refuse with 503 (false)."
    )
    redis_timeout_s: float = Field(default=0.25, gt=0, description="Budget of one limiter round trip.")

    @model_validator(mode="after")
    def _default_tier_exists(self) -> RateLimitSettings:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers")
        return self


class ModelPrice(Section):
    """What a model's tokens cost, per 1000, in the deployment's currency."""

    prompt_per_1k: float = Field(default=0.0, ge=0)
    completion_per_1k: float = Field(default=0.0, ge=0)


class RequestLogSettings(Section):
    """The request log: a bounded queue written in batches; a spill file while the database is away."""

    enabled: bool = True
    queue_size: int = Field(default=10000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(
        default=0.1,
        ge=0,
        description="A batch is written when full or when its first entry has waited this long: fewer, "
        "larger transactions (one per request costs several times the insert itself).",
    )
    retry_interval_s: float = Field(default=2.0, gt=0, description="Between attempts to reach the database.")
    spill_dir: Path | None = Field(default=None, description="Default: <data_dir>/request-log-spill.")
    bodies: Literal["none", "full", "anonymised"] = Field(
        default="none", description="Store request/response bodies (privacy: off by default)."
    )
    retention_days: int | None = Field(default=30, ge=1, description="Seed F.1.1 raw_logs: 30d.")
    audit_retention_days: int | None = Field(default=365, ge=1)
    purge_interval_s: float = Field(default=3600.0, gt=0)


class TracingSettings(Section):
    """Traces, exported with OTLP/HTTP: off (no exporter, no spans) unless ``endpoint`` is set."""

    endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318 (/v1/traces is added)."
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Sent to the collector (auth).")
    service_name: str = Field(default="citadel", min_length=1, description="Prefix of service.name.")
    sample_ratio: float = Field(
        default=1.0, ge=0, le=1, description="Of new traces (a parent decides its own)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Budget of one export request.")
    exclude_paths: list[str] = Field(default_factory=lambda: ["/health", "/metrics"])

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL (OTLP/HTTP)")
        return value
