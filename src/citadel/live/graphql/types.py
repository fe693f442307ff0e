"""The GraphQL schema's object types (Strawberry); the resolvers fill them from the gateway's objects."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class Replica:
    url: str
    status: str
    breaker: str = strawberry.field(description="closed, half_open or open")
    outstanding: int
    error: str | None


@strawberry.type
class Model:
    id: str
    status: str
    backend: str
    port: int | None
    memory_limit: str | None
    in_flight: int
    replicas: list[Replica]
    request_count: int = strawberry.field(description="Requests it answered (the request log, in range).")
    average_latency_ms: float | None
    accuracy: float | None = strawberry.field(description="Mean accuracy (0-1) users reported, in range.")
    satisfaction: float | None = strawberry.field(description="Mean rating (1-5) users gave, in range.")


@strawberry.type
class RequestRecord:
    request_id: str
    key_prefix: str | None
    model: str
    served_model: str | None
    endpoint: str
    transport: str
    status_code: int
    error_type: str | None
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hit: bool
    created_at: str


@strawberry.type
class RequestMetrics:
    count: int
    errors: int
    average_latency_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cache_hits: int
    requests: list[RequestRecord] = strawberry.field(description="The newest, at most `limit`.")


@strawberry.type
class UsageLine:
    key_prefix: str | None
    key_name: str | None
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    errors: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None


@strawberry.type
class BusinessAnalytics:
    requests: int
    errors: int
    cost: float
    prompt_tokens: int
    completion_tokens: int
    cache_hit_rate: float | None
    lines: list[UsageLine] = strawberry.field(description="Per key and model, busiest first.")


@strawberry.type
class SystemHealth:
    status: str
    healthy_models: list[str]
    unhealthy_models: list[str]
    uptime_s: float
    version: str
    request_log_queue: int


@strawberry.type
class ActiveModel:
    model: str
    in_flight: int
    replicas: list[Replica]


@strawberry.type
class ModelLoad:
    name: str
    status: str
    in_flight: int
    requests_total: int
    requests_per_s: float
    latency_ms: float | None
    replicas: list[Replica]


@strawberry.type
class MetricsSnapshot:
    timestamp: float
    status: str
    requests_per_s: float
    in_flight: int
    log_queue: int
    models: list[ModelLoad]


@strawberry.type
class ChatCompletion:
    request_id: str
    model: str
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


@strawberry.input
class ChatMessageInput:
    role: str
    content: str


def replica(data: dict[str, Any]) -> Replica:
    return Replica(**data)


def model_load(data: dict[str, Any]) -> ModelLoad:
    return ModelLoad(
        name=data["name"],
        status=data["status"],
        in_flight=data["in_flight"],
        requests_total=data["requests_total"],
        requests_per_s=data["requests_per_s"],
        latency_ms=data["latency_ms"],
        replicas=[replica(item) for item in data["replicas"]],
    )


def snapshot(data: dict[str, Any]) -> MetricsSnapshot:
    return MetricsSnapshot(
        timestamp=data["timestamp"],
        status=data["status"],
        requests_per_s=data["requests_per_s"],
        in_flight=data["in_flight"],
        log_queue=data["log_queue"],
        models=[model_load(item) for item in data["models"]],
    )


def request_record(row: dict[str, Any]) -> RequestRecord:
    names = RequestRecord.__annotations__
    return RequestRecord(**{name: row[name] for name in names})
