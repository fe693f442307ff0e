"""Usage by key and model over a time range: requests, tokens, cost, p50/p95 latency, errors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.event_tables import feedback
from citadel.store.tables import api_keys, request_log


@dataclass(frozen=True, slots=True)
class UsageFilter:
    since: datetime | None = None
    until: datetime | None = None
    key_id: int | None = None
    model: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(request_log.c.created_at >= self.since)
        if self.until is not None:
            where.append(request_log.c.created_at < self.until)
        if self.key_id is not None:
            where.append(request_log.c.key_id == self.key_id)
        if self.model is not None:
            where.append(request_log.c.model == self.model)
        return where


@dataclass(frozen=True, slots=True)
class UsageRow:
    key_id: int | None
    key_prefix: str | None
    key_name: str | None
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    errors: int
    feedback: int = 0  # feedback given on these requests (POST /v1/feedback)
    mean_rating: float | None = None
    business_value: float = 0.0  # reported with the feedback, in events.currency

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's ``percentile_cont``).

    >>> percentile([10.0, 20.0, 30.0, 40.0], 0.5)
    25.0
    """
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


async def _latencies(
    connection: AsyncConnection, where: list[ColumnElement[bool]]
) -> dict[tuple[int | None, str], tuple[float | None, float | None]]:
    if connection.dialect.name == "postgresql":
        latency = request_log.c.latency_ms
        query = (
            select(
                request_log.c.key_id,
                request_log.c.model,
                func.percentile_cont(0.5).within_group(latency),
                func.percentile_cont(0.95).within_group(latency),
            )
            .where(and_(True, *where))
            .group_by(request_log.c.key_id, request_log.c.model)
        )
        return {(r[0], r[1]): (r[2], r[3]) for r in (await connection.execute(query)).all()}
    grouped: dict[tuple[int | None, str], list[float]] = defaultdict(list)
    query = select(request_log.c.key_id, request_log.c.model, request_log.c.latency_ms).where(
        and_(True, *where)
    )
    for row in (await connection.execute(query)).all():
        grouped[(row.key_id, row.model)].append(float(row.latency_ms))
    return {
        group: (percentile(sorted(values), 0.5), percentile(sorted(values), 0.95))
        for group, values in grouped.items()
    }


async def _feedback(
    connection: AsyncConnection, where: list[ColumnElement[bool]]
) -> dict[tuple[int | None, str], dict[str, Any]]:
    """Feedback on the requests ``where`` selects, by the request's key and requested model."""
    query = (
        select(
            request_log.c.key_id,
            request_log.c.model,
            func.count(),
            func.avg(feedback.c.rating),
            func.coalesce(func.sum(feedback.c.business_value), 0.0),
        )
        .select_from(feedback.join(request_log, request_log.c.request_id == feedback.c.request_id))
        .where(and_(True, *where))
        .group_by(request_log.c.key_id, request_log.c.model)
    )
    return {
        (key_id, model): {"feedback": int(count), "mean_rating": float(mean), "business_value": float(value)}
        for key_id, model, count, mean, value in (await connection.execute(query)).all()
    }


async def usage(connection: AsyncConnection, where: UsageFilter) -> list[UsageRow]:
    """One row per (key, model), busiest first."""
    conditions = where.conditions()
    query = (
        select(
            request_log.c.key_id,
            api_keys.c.prefix,
            api_keys.c.name,
            request_log.c.model,
            func.count().label("requests"),
            func.coalesce(func.sum(request_log.c.prompt_tokens), 0),
            func.coalesce(func.sum(request_log.c.completion_tokens), 0),
            func.coalesce(func.sum(request_log.c.cost), 0.0),
            func.coalesce(func.sum(case((request_log.c.status_code >= 400, 1), else_=0)), 0),
        )
        .select_from(request_log.outerjoin(api_keys, api_keys.c.id == request_log.c.key_id))
        .where(and_(True, *conditions))
        .group_by(request_log.c.key_id, api_keys.c.prefix, api_keys.c.name, request_log.c.model)
        .order_by(func.count().desc(), request_log.c.model)
    )
    rows = (await connection.execute(query)).all()
    latencies = await _latencies(connection, conditions)
    feedback = await _feedback(connection, conditions)
    return [
        UsageRow(
            key_id=key_id,
            key_prefix=prefix,
            key_name=name,
            model=model,
            requests=int(requests),
            prompt_tokens=int(prompt),
            completion_tokens=int(completion),
            cost=float(cost),
            p50_latency_ms=latencies.get((key_id, model), (None, None))[0],
            p95_latency_ms=latencies.get((key_id, model), (None, None))[1],
            errors=int(errors),
            **feedback.get((key_id, model), {}),
        )
        for key_id, prefix, name, model, requests, prompt, completion, cost, errors in rows
    ]
