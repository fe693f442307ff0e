"""The ``models:`` section: one entry per model, shaped by its ``backend``.

Each backend takes its own keys and no others, so a key that one backend would silently ignore is an
error where it is written:

- ``llamacpp`` (the default): Citadel's model service, GGUF. host, port, source, limits, threads,
  extra_buffer_types.
- ``vllm``: vLLM's OpenAI server. host, port, source, limits (with tensor/pipeline parallelism).
- ``sentence-transformers``: Citadel's embedding service. host, port, source, limits (batching), threads.
- ``remote``: nothing runs here, a URL elsewhere. url, limits.max_model_len.

Local backends also take memory_limit, cpu_quota, startup_timeout_s and placement (``local``, or ``ray``:
a Ray Serve deployment, see :mod:`citadel.config.placement`; then host and port are Ray Serve's, not the
model's).

Every backend shares the gateway's keys (replicas, balancing, fallbacks, timeouts, capabilities, cost,
targets). An entry without ``backend`` is a ``llamacpp`` model, as it always was.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(ModelSettings).validate_python({"name": "far", "backend": "remote", "url": "http://h:9"}).url
'http://h:9'
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Discriminator, Field, PrivateAttr, SecretStr, Tag, field_validator, model_validator

from citadel.config.base import NAME_PATTERN, MemorySize, Section, parse_memory, reachable_host
from citadel.config.placement import Placement, RayPlacement, placement_shorthand

Backend = Literal["llamacpp", "vllm", "remote", "sentence-transformers"]
BACKENDS: tuple[str, ...] = ("llamacpp", "vllm", "remote", "sentence-transformers")
DEFAULT_BACKEND = "llamacpp"
Balancing = Literal["least_outstanding", "weighted_round_robin", "latency_ewma", "prefix_affinity"]


class RemoteLimits(Section):
    """What the gateway needs to know of a remote model's engine: its context window (routing, body size)."""

    max_model_len: int = Field(default=2048, ge=16)


class EmbeddingLimits(RemoteLimits):
    """The embedding service's batching: texts encoded together, and the queue in front of them."""

    max_num_seqs: int = Field(default=8, ge=1)
    max_num_batched_tokens: int = Field(default=512, ge=16)
    max_waiting: int = Field(default=128, ge=0, description="Queued requests beyond this get 503.")


class EngineLimits(EmbeddingLimits):
    """The built-in engine's arguments, named as vLLM's (seed B.1 ``vllm_configuration``)."""

    enable_chunked_prefill: bool = True
    enable_prefix_caching: bool = Field(default=True, description="Reuse computed prompt prefixes.")


class VllmLimits(EngineLimits):
    """vLLM's engine arguments: the built-in engine's, plus how the model is spread over GPUs."""

    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)


class PerformanceTargets(Section):
    """The seed's per-model targets (B.1 ``performance_targets``); alert rules and benchmarks read them."""

    average_latency_ms: int = Field(default=2000, gt=0)
    p95_latency_ms: int = Field(default=3000, gt=0)
    throughput_rpm: int = Field(default=50, gt=0, description="Requests per minute.")
    concurrent_requests: int = Field(default=8, gt=0)

    @model_validator(mode="after")
    def _p95_not_below_average(self) -> PerformanceTargets:
        if self.p95_latency_ms < self.average_latency_ms:
            raise ValueError("p95_latency_ms must not be below average_latency_ms")
        return self


class ReplicaSettings(Section):
    """One upstream of a model: a model service here (``port``) or any OpenAI-compatible server (``url``).

    ``api_key_env`` names an environment variable; its value is read once, when the settings load, into
    :attr:`token` (a secret), so nothing else reads the environment.
    """

    url: str | None = None
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    weight: int = Field(default=1, ge=1, le=1000, description="Share of traffic under weighted_round_robin.")
    served_model: str | None = Field(
        default=None, description="The model's name on that server, when it differs (e.g. vLLM's path)."
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token for that server (never the token itself).",
    )
    _token: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _url_or_port(self) -> ReplicaSettings:
        if (self.url is None) == (self.port is None):
            raise ValueError("a replica needs exactly one of 'url' or 'port'")
        return self

    def model_post_init(self, context: Any, /) -> None:
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env)
            self._token = SecretStr(value) if value else None

    @property
    def token(self) -> SecretStr | None:
        """The bearer token from ``$api_key_env`` as it was when the settings loaded; None if unset."""
        return self._token

    @property
    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        return f"http://{reachable_host(self.host)}:{self.port}"


class UpstreamTimeouts(Section):
    """Per-model timeouts; an unset one takes the gateway's default."""

    connect_s: float | None = Field(default=None, gt=0)
    first_byte_s: float | None = Field(default=None, gt=0)
    total_s: float | None = Field(default=None, gt=0)


class _Model(Section):
    """The keys every backend shares: the name clients send and how the gateway routes to it."""

    name: str = Field(pattern=NAME_PATTERN, description="Served model name, as clients send it.")
    targets: PerformanceTargets = Field(default_factory=PerformanceTargets)
    replicas: list[ReplicaSettings] = Field(
        default_factory=list, description="The gateway's upstreams; none means one at host:port (or url)."
    )
    balancing: Balancing = "least_outstanding"
    fallbacks: list[str] = Field(default_factory=list, description="Models to try when all replicas fail.")
    timeouts: UpstreamTimeouts = Field(default_factory=UpstreamTimeouts)
    capabilities: list[str] = Field(default_factory=list, description="Tags routing rules may ask for.")
    cost: float = Field(default=1.0, ge=0, description="Relative cost, for routing rules that pick cheapest.")

    @property
    def base_url(self) -> str:
        """Where the gateway reaches this model's OpenAI-compatible API (without ``/v1``)."""
        raise NotImplementedError

    @property
    def upstreams(self) -> list[ReplicaSettings]:
        """The replicas the gateway balances over: the explicit list, else this model's own address."""
        return self.replicas or [ReplicaSettings(url=self.base_url)]


class LocalModel(_Model):
    """A model served by a service on this machine (or a machine like it): where it listens, what it loads."""

    host: str = "127.0.0.1"
    port: int = Field(default=11400, ge=1, le=65535)
    source: str = Field(
        description="Where the weights come from: a path, or package:<module>/<file> for a model "
        "shipped inside an installed Python package.",
    )
    memory_limit: MemorySize = "4G"
    cpu_quota: int = Field(default=200, ge=1, description="Percent of one CPU, as systemd's CPUQuota.")
    startup_timeout_s: float = Field(default=300.0, gt=0)
    placement: Placement = Field(
        default="local",
        description="`local`: a service on this machine at host:port. `ray`: a Ray Serve deployment "
        "(replicas, autoscaling and the proxy are Ray Serve's).",
    )

    _placement_shorthand = field_validator("placement", mode="before")(placement_shorthand)

    @model_validator(mode="after")
    def _ray_owns_the_replicas(self) -> LocalModel:
        """On Ray, Ray Serve starts the replicas and its proxy is the address: keys that place a service on
        a port of this machine would be silently ignored, so they are refused."""
        if isinstance(self.placement, RayPlacement):
            ignored = sorted({"host", "port", "replicas"} & self.model_fields_set)
            if ignored:
                raise ValueError(
                    f"model {self.name!r} is placed on Ray: drop {', '.join(map(repr, ignored))} (Ray Serve "
                    "runs the replicas; its proxy is placement.serve_host/serve_port)"
                )
        return self

    @property
    def ray(self) -> RayPlacement | None:
        """The Ray placement, or None for a service on this machine."""
        return self.placement if isinstance(self.placement, RayPlacement) else None

    @property
    def memory_limit_bytes(self) -> int:
        return parse_memory(self.memory_limit)

    @property
    def base_url(self) -> str:
        if isinstance(self.placement, RayPlacement):
            return self.placement.serve_url(self.name)
        return f"http://{reachable_host(self.host)}:{self.port}"


class LlamaCppModel(LocalModel):
    """``llamacpp``: Citadel's built-in model service, a GGUF model on llama.cpp."""

    backend: Literal["llamacpp"] = "llamacpp"
    limits: EngineLimits = Field(default_factory=EngineLimits)
    threads: int | None = Field(
        default=None,
        ge=1,
        description="Engine threads (llama.cpp); default: this service's share of the cores.",
    )
    extra_buffer_types: bool = Field(
        default=False,
        description="Let llama.cpp place weights in its optional CPU-specific buffer types (AMX, repacked "
        "layouts). Off: the AMX path crashed on Intel Sapphire Rapids servers.",
    )


class VllmModel(LocalModel):
    """``vllm``: vLLM's OpenAI server, launched with the blueprint's flags."""

    backend: Literal["vllm"]
    limits: VllmLimits = Field(default_factory=VllmLimits)


class EmbeddingModel(LocalModel):
    """``sentence-transformers``: Citadel's embedding service (``/v1/embeddings``)."""

    backend: Literal["sentence-transformers"]
    limits: EmbeddingLimits = Field(default_factory=EmbeddingLimits)
    threads: int | None = Field(
        default=None, ge=1, description="Torch threads; default: this service's share of the cores."
    )


class RemoteModel(_Model):
    """``remote``: an OpenAI-compatible server that already runs elsewhere; nothing is started here."""

    backend: Literal["remote"]
    url: str = Field(description="Base URL of the remote OpenAI-compatible server.")
    limits: RemoteLimits = Field(default_factory=RemoteLimits)

    @model_validator(mode="before")
    @classmethod
    def _needs_url(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data.get("url"):
                raise ValueError("a model with backend 'remote' needs 'url'")
            # Configs written for the flat model settings had to give a remote model a placeholder
            # source; it never meant anything, so it is dropped rather than refused.
            if "source" in data:
                data = {key: value for key, value in data.items() if key != "source"}
        return data

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


def backend_of(value: Any) -> str:
    """The discriminator: the entry's ``backend``, ``llamacpp`` when it names none."""
    if isinstance(value, dict):
        backend = value.get("backend", DEFAULT_BACKEND)
        return backend if isinstance(backend, str) else repr(backend)
    return str(getattr(value, "backend", DEFAULT_BACKEND))


# One model entry, whichever backend serves it.
ModelSettings = Annotated[
    Annotated[LlamaCppModel, Tag("llamacpp")]
    | Annotated[VllmModel, Tag("vllm")]
    | Annotated[RemoteModel, Tag("remote")]
    | Annotated[EmbeddingModel, Tag("sentence-transformers")],
    Discriminator(backend_of),
]
# A model served by a service of Citadel's (or vLLM) that ``citadel up`` can start.
LocalModelSettings = LlamaCppModel | VllmModel | EmbeddingModel
# The model classes by backend name, for messages that list a backend's keys.
MODEL_CLASSES: dict[str, type[_Model]] = {
    "llamacpp": LlamaCppModel,
    "vllm": VllmModel,
    "remote": RemoteModel,
    "sentence-transformers": EmbeddingModel,
}


_M = TypeVar("_M", bound=_Model)


def as_backend(model: _Model, kind: type[_M]) -> _M:
    """``model`` as the ``kind`` of model a caller serves; ``TypeError`` says which backend it has instead.

    >>> as_backend(settings.model("smollm2-135m-instruct"), LlamaCppModel).threads  # doctest: +SKIP
    """
    if not isinstance(model, kind):
        names = {cls: name for name, cls in MODEL_CLASSES.items()}
        raise TypeError(
            f"model {model.name!r} has backend {names.get(type(model), '?')!r}, "
            f"not {names.get(kind, kind.__name__)!r}"
        )
    return model
