"""The GraphQL schema: queries over the gateway's live state and its request log, the chat mutation (the
request path of ``/v1/chat/completions``), and the metrics subscription.

Admin-only: ``businessAnalytics`` and ``activeRequests``; ``requestMetrics`` shows a normal key only its own
requests. Lists are bounded by ``live.graphql.max_rows``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from citadel import __version__
from citadel.config.live import GraphQLSettings
from citadel.errors import CitadelError
from citadel.live.bridge import CHAT, relay, to_sink
from citadel.live.graphql.context import Ctx, caller, graphql_error, require_admin
from citadel.live.graphql.limits import OperationOutcome
from citadel.live.graphql.types import (
    ActiveModel,
    BusinessAnalytics,
    ChatCompletion,
    ChatMessageInput,
    MetricsSnapshot,
    Model,
    RequestMetrics,
    SystemHealth,
    UsageLine,
    replica,
    request_record,
    snapshot,
)
from citadel.live.outbox import Outbox, SlowReader
from citadel.live.queries import RequestQuery, model_feedback, model_stats, recent_requests, request_totals
from citadel.live.status import StatusReader, health_status, model_status
from citadel.live.websocket import close_within
from citadel.store.usage import UsageFilter, usage


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _rows(info: Ctx, limit: int) -> int:
    most = info.context.live.settings.graphql.max_rows
    if not 1 <= limit <= most:
        raise GraphQLError(
            f"limit must be 1 to {most}", extensions={"code": "limit_too_large", "status": 400}
        )
    return limit


async def _models(info: Ctx, since: datetime | None, only: str | None = None) -> list[Model]:
    caller(info)
    services = info.context.live.gateway
    async with services.governance.database.transaction() as connection:
        stats = await model_stats(connection, _utc(since))
        rated = await model_feedback(connection, _utc(since))
    models = []
    for pool in services.directory.pools():
        if only is not None and pool.name != only:
            continue
        status = model_status(services, pool)
        count, latency = stats.get(pool.name, (0, None))
        accuracy, satisfaction = rated.get(pool.name, (None, None))
        models.append(
            Model(
                id=status["name"],
                status=status["status"],
                backend=status["backend"],
                port=status["port"],
                memory_limit=status["memory_limit"],
                in_flight=status["in_flight"],
                replicas=[replica(item) for item in status["replicas"]],
                request_count=count,
                average_latency_ms=latency,
                accuracy=accuracy,
                satisfaction=satisfaction,
            )
        )
    return models


@strawberry.type
class Query:
    @strawberry.field(description="Every configured model, with its replicas and request-log figures.")
    async def models(self, info: Ctx, since: datetime | None = None) -> list[Model]:
        return await _models(info, since)

    @strawberry.field(description="One model by name, or null.")
    async def model(self, info: Ctx, id: str, since: datetime | None = None) -> Model | None:
        found = await _models(info, since, only=id)
        return found[0] if found else None

    @strawberry.field(description="Requests from the request log (a normal key sees only its own).")
    async def request_metrics(
        self,
        info: Ctx,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> RequestMetrics:
        principal = caller(info)
        key_id = None if info.context.admin else principal.key_id
        query = RequestQuery(
            key_id=key_id, model=model, since=_utc(since), until=_utc(until), limit=_rows(info, limit)
        )
        async with info.context.live.gateway.governance.database.transaction() as connection:
            totals = await request_totals(connection, query)
            rows = await recent_requests(connection, query)
        return RequestMetrics(**totals, requests=[request_record(row) for row in rows])

    @strawberry.field(description="Requests, tokens and cost per key and model (admin).")
    async def business_analytics(
        self,
        info: Ctx,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> BusinessAnalytics:
        require_admin(info)
        where = UsageFilter(_utc(since), _utc(until), None, model)
        query = RequestQuery(model=model, since=_utc(since), until=_utc(until))
        async with info.context.live.gateway.governance.database.transaction() as connection:
            rows = await usage(connection, where)
            totals = await request_totals(connection, query)
        lines = [
            UsageLine(
                key_prefix=row.key_prefix,
                key_name=row.key_name,
                model=row.model,
                requests=row.requests,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cost=row.cost,
                errors=row.errors,
                p50_latency_ms=row.p50_latency_ms,
                p95_latency_ms=row.p95_latency_ms,
            )
            for row in rows[: info.context.live.settings.graphql.max_rows]
        ]
        count = totals["count"]
        return BusinessAnalytics(
            requests=count,
            errors=totals["errors"],
            cost=totals["cost"],
            prompt_tokens=totals["prompt_tokens"],
            completion_tokens=totals["completion_tokens"],
            cache_hit_rate=totals["cache_hits"] / count if count else None,
            lines=lines,
        )

    @strawberry.field(description="The gateway's health: models up and down, uptime.")
    def system_health(self, info: Ctx) -> SystemHealth:
        caller(info)
        services = info.context.live.gateway
        pools = services.directory.pools()
        return SystemHealth(
            status=health_status(services),
            healthy_models=[pool.name for pool in pools if pool.healthy],
            unhealthy_models=[pool.name for pool in pools if not pool.healthy],
            uptime_s=round(time.time() - services.started_at, 3),
            version=__version__,
            request_log_queue=services.governance.queued,
        )

    @strawberry.field(description="Requests in flight at each model's replicas (admin).")
    def active_requests(self, info: Ctx) -> list[ActiveModel]:
        require_admin(info)
        services = info.context.live.gateway
        return [
            ActiveModel(
                model=pool.name,
                in_flight=pool.outstanding,
                replicas=[replica(item) for item in model_status(services, pool)["replicas"]],
            )
            for pool in services.directory.pools()
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="One chat completion, through the request path of /v1/chat/completions.")
    async def chat_completion(
        self,
        info: Ctx,
        model: str,
        messages: list[ChatMessageInput],
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatCompletion:
        context = info.context
        request: dict[str, object] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if temperature is not None:
            request["temperature"] = temperature
        headers = {"authorization": context.authorization} if context.authorization else {}
        sink = _Answer()
        request_id = await relay(
            context.live.gateway,
            CHAT,
            json.dumps(request).encode(),
            headers,
            to_sink(sink),
            transport="graphql",
        )
        return sink.completion(request_id, model)


class _Answer:
    """A whole (non-streamed) chat answer, read as it went out."""

    def __init__(self) -> None:
        self.status = 0
        self._body = b""

    def start(self, status: int, content_type: str) -> None:
        self.status = status

    async def body(self, chunk: bytes) -> None:
        self._body += chunk

    def completion(self, request_id: str, model: str) -> ChatCompletion:
        try:
            answer = json.loads(self._body)
        except ValueError as exc:
            raise GraphQLError("The model's answer was not JSON.", extensions={"status": 502}) from exc
        if self.status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise GraphQLError(
                str(error.get("message", "request failed")),
                extensions={
                    "code": error.get("code") or error.get("type"),
                    "status": self.status,
                    "request_id": request_id,
                },
            )
        choice = answer["choices"][0]
        usage_counts = answer.get("usage") or {}
        return ChatCompletion(
            request_id=request_id,
            model=answer.get("model", model),
            content=choice.get("message", {}).get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage_counts.get("prompt_tokens", 0)),
            completion_tokens=int(usage_counts.get("completion_tokens", 0)),
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A snapshot every `interval` seconds (default live.metrics_interval_s)."
    )
    async def metrics(
        self, info: Ctx, interval: float | None = None
    ) -> AsyncGenerator[MetricsSnapshot, None]:
        principal = caller(info)
        live = info.context.live
        try:
            every = live.interval(interval)
        except CitadelError as exc:
            raise graphql_error(exc) from exc
        reader = StatusReader(live.gateway)
        outbox: Outbox[MetricsSnapshot] = Outbox(live.settings.send_buffer)
        socket = info.context.request

        async def tick() -> None:
            try:
                while True:
                    outbox.offer(snapshot(reader.snapshot()))
                    await asyncio.sleep(every)
            except SlowReader:
                live.metrics.dropped.labels("graphql", "/graphql").inc()
                if isinstance(socket, WebSocket):
                    await close_within(socket, 1013, live.settings.stall_timeout_s)

        identity = f"key:{principal.key_id}" if principal.key_id is not None else principal.kind
        with (
            live.slots.hold(identity),
            live.metrics.connections.labels("graphql", "/graphql").track_inprogress(),
        ):
            ticker = asyncio.create_task(tick(), name="citadel-graphql-metrics")
            try:
                while True:
                    yield await outbox.get()
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)


def build_schema(settings: GraphQLSettings) -> strawberry.Schema:
    # Factories, not instances: each request gets fresh extensions.
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.max_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        OperationOutcome,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )
