"""The one typed settings object: YAML file first, ``CITADEL_*`` environment variables over it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from citadel.config.live import LiveSettings
from citadel.config.models import as_backend
from citadel.config.ops_sections import BackupSettings, LogFileSettings
from citadel.config.scaling import DiscoverySettings, LoadBalancerSettings
from citadel.config.sections import (
    AuthSettings,
    CacheSettings,
    DatabaseSettings,
    EmbeddingModel,
    EventSettings,
    GatewaySettings,
    LlamaCppModel,
    LocalModel,
    MetricsSettings,
    ModelPrice,
    ModelSettings,
    RateLimitSettings,
    RedisSettings,
    RemoteModel,
    RequestLogSettings,
    SupervisorSettings,
    TracingSettings,
    VectorSettings,
    VllmModel,
)

_M = TypeVar("_M", LlamaCppModel, VllmModel, EmbeddingModel, RemoteModel)


class CitadelSettings(BaseSettings):
    """Everything a Citadel process needs to know, validated once at start.

    Nested keys have environment twins with ``__`` between levels, e.g. ``CITADEL_GATEWAY__PORT=8001``
    or ``CITADEL_AUTH__ENABLED=true``; the environment wins over the file.
    """

    model_config = SettingsConfigDict(
        env_prefix="CITADEL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    models: list[ModelSettings] = Field(default_factory=list)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    vectors: VectorSettings = Field(default_factory=VectorSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Cost per 1k prompt/completion tokens, by model name."
    )
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    log_files: LogFileSettings = Field(default_factory=LogFileSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    load_balancer: LoadBalancerSettings = Field(default_factory=LoadBalancerSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @model_validator(mode="before")
    @classmethod
    def _local_state_under_data_dir(cls, data: Any) -> Any:
        """The embedded SQLite file and local vector store live in ``data_dir`` unless placed explicitly."""
        if not isinstance(data, dict):
            return data
        data_dir = Path(data.get("data_dir") or "var")
        database = dict(data.get("database") or {})
        database.setdefault("url", f"sqlite+aiosqlite:///{data_dir / 'citadel.db'}")
        vectors = dict(data.get("vectors") or {})
        vectors.setdefault("path", str(data_dir / "vectors"))
        return {**data, "database": database, "vectors": vectors}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init kwargs; the environment must override it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _names_and_ports_unique(self) -> CitadelSettings:
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        local = [m for m in self.models if isinstance(m, LocalModel)]
        listeners = [(m.host, m.port, f"model {m.name}") for m in local if m.ray is None]
        listeners.append((self.gateway.host, self.gateway.port, "the gateway"))
        listeners.extend(_serve_proxies(local))
        seen: dict[int, str] = {}
        for _host, port, owner in listeners:
            if port in seen:
                raise ValueError(f"port {port} is used by both {seen[port]} and {owner}")
            seen[port] = owner
        return self

    @model_validator(mode="after")
    def _gateway_names_resolve(self) -> CitadelSettings:
        """Fallbacks and routing rules name configured models; virtual names do not shadow real ones."""
        names = {model.name for model in self.models}
        problems = [
            f"model {model.name}: fallback {fallback!r} is not a configured model"
            for model in self.models
            for fallback in model.fallbacks
            if fallback not in names or fallback == model.name
        ]
        for virtual in self.gateway.routes:
            if virtual.name in names:
                problems.append(f"gateway.routes: {virtual.name!r} is already a real model's name")
            problems.extend(
                f"gateway.routes[{virtual.name}] rule {rule.name}: {target!r} is not a configured model"
                for rule in virtual.rules
                for target in rule.models
                if target not in names
            )
        problems.extend(_split_problems(self, names))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _vector_names_resolve(self) -> CitadelSettings:
        """``vectors.embedding_model`` names a configured model; retrieval defaults configured collections."""
        names = {model.name for model in self.models}
        problems = []
        if self.vectors.embedding_model is not None and self.vectors.embedding_model not in names:
            problems.append(
                f"vectors.embedding_model: {self.vectors.embedding_model!r} is not a configured model"
            )
        problems.extend(
            f"vectors.retrieval[{model}].collection: {default.collection!r} is not in vectors.collections"
            for model, default in self.vectors.retrieval.items()
            if default.collection not in self.vectors.collections
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @overload
    def model(self, name: str) -> ModelSettings: ...

    @overload
    def model(self, name: str, kind: type[_M]) -> _M: ...

    def model(self, name: str, kind: type[_M] | None = None) -> ModelSettings | _M:
        """The model called ``name``; ``KeyError`` names the ones that exist. With ``kind`` (e.g.
        ``LlamaCppModel``), ``TypeError`` if that model has another backend."""
        for model in self.models:
            if model.name == name:
                return model if kind is None else as_backend(model, kind)
        known = ", ".join(m.name for m in self.models) or "none"
        raise KeyError(f"no model {name!r} in the config (configured: {known})")


def _serve_proxies(models: Sequence[LocalModel]) -> list[tuple[str, int, str]]:
    """One listener per Ray cluster: its Serve proxy. A cluster has one proxy (Serve's HTTP options are
    cluster-wide), so the models placed on it must agree on where it listens."""
    proxies: dict[str, tuple[str, int, str]] = {}
    for model in models:
        ray = model.ray
        if ray is None:
            continue
        first = proxies.setdefault(ray.dashboard_url, (ray.serve_host, ray.serve_port, model.name))
        if first[:2] != (ray.serve_host, ray.serve_port):
            raise ValueError(
                f"models {first[2]} and {model.name} are on the Ray cluster at {ray.dashboard_url} but name "
                f"different Serve proxies ({first[0]}:{first[1]}, {ray.serve_host}:{ray.serve_port}); a "
                "cluster has one"
            )
    return [(host, port, f"Ray Serve at {url}") for url, (host, port, _) in proxies.items()]


def _split_problems(settings: CitadelSettings, models: set[str]) -> list[str]:
    """Split names are unique and not a route's; their variants are configured models."""
    routes = {virtual.name for virtual in settings.gateway.routes}
    problems, seen = [], set()
    for split in settings.gateway.splits:
        if split.name in routes or split.name in seen:
            problems.append(f"gateway.splits: {split.name!r} is already a route's or another split's name")
        seen.add(split.name)
        problems.extend(
            f"gateway.splits[{split.name}]: variant {variant.model!r} is not a configured model"
            for variant in split.variants
            if variant.model not in models
        )
    return problems
