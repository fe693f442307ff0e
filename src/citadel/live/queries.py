"""Reads of the request log for the console and GraphQL: filtered rows, one request, usage over time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.event_tables import feedback
from citadel.store.tables import api_keys, request_log

_SUMMARY = (
    request_log.c.request_id,
    request_log.c.key_id,
    api_keys.c.prefix.label("key_prefix"),
    request_log.c.model,
    request_log.c.served_model,
    request_log.c.endpoint,
    request_log.c.transport,
    request_log.c.status_code,
    request_log.c.error_type,
    request_log.c.latency_ms,
    request_log.c.ttft_ms,
    request_log.c.prompt_tokens,
    request_log.c.completion_tokens,
    request_log.c.cost,
    request_log.c.cache_hit,
    request_log.c.created_at,
)
_JOINED = request_log.outerjoin(api_keys, api_keys.c.id == request_log.c.key_id)


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """Which request-log rows: all filters optional; ``status`` is ``ok`` (< 400), ``error`` or a code."""

    key_id: int | None = None
    model: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.key_id is not None:
            where.append(request_log.c.key_id == self.key_id)
        if self.model:
            where.append(request_log.c.model == self.model)
        if self.since is not None:
            where.append(request_log.c.created_at >= self.since)
        if self.until is not None:
            where.append(request_log.c.created_at < self.until)
        if self.status == "ok":
            where.append(request_log.c.status_code < 400)
        elif self.status == "error":
            where.append(request_log.c.status_code >= 400)
        elif self.status and self.status.isdigit():
            where.append(request_log.c.status_code == int(self.status))
        return where


def _row(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    values["created_at"] = values["created_at"].isoformat()
    return values


async def recent_requests(connection: AsyncConnection, query: RequestQuery) -> list[dict[str, Any]]:
    """Newest first, at most ``query.limit``."""
    statement = (
        select(*_SUMMARY)
        .select_from(_JOINED)
        .where(and_(True, *query.conditions()))
        .order_by(request_log.c.created_at.desc(), request_log.c.id.desc())
        .limit(query.limit)
    )
    return [_row(row) for row in (await connection.execute(statement)).all()]


async def one_request(connection: AsyncConnection, request_id: str) -> dict[str, Any] | None:
    """One request with its bodies (present only when ``request_log.bodies`` stores them)."""
    statement = (
        select(*_SUMMARY, request_log.c.request_body, request_log.c.response_body)
        .select_from(_JOINED)
        .where(request_log.c.request_id == request_id)
    )
    row = (await connection.execute(statement)).first()
    return _row(row) if row is not None else None


async def usage_series(
    connection: AsyncConnection, query: RequestQuery, bucket_s: int, *, max_rows: int = 100_000
) -> list[dict[str, Any]]:
    """Requests, tokens and cost per time bucket and (key, model), oldest bucket first.

    Summed here rather than in SQL: the buckets are the same on SQLite and PostgreSQL, and a range holds
    at most ``max_rows`` rows (the newest).
    """
    statement = (
        select(
            request_log.c.created_at,
            request_log.c.key_id,
            api_keys.c.prefix,
            request_log.c.model,
            request_log.c.prompt_tokens,
            request_log.c.completion_tokens,
            request_log.c.cost,
        )
        .select_from(_JOINED)
        .where(and_(True, *query.conditions()))
        .order_by(request_log.c.created_at.desc())
        .limit(max_rows)
    )
    sums: dict[tuple[int, str | None, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in (await connection.execute(statement)).all():
        start = int(row.created_at.timestamp()) // bucket_s * bucket_s
        label = row.prefix or ("admin/anonymous" if row.key_id is None else str(row.key_id))
        totals = sums[(start, label, row.model)]
        totals[0] += 1
        totals[1] += row.prompt_tokens + row.completion_tokens
        totals[2] += row.cost
    return [
        {
            "bucket": datetime.fromtimestamp(start, UTC).isoformat(),
            "bucket_epoch": start,
            "key": key,
            "model": model,
            "requests": int(totals[0]),
            "tokens": int(totals[1]),
            "cost": round(totals[2], 6),
        }
        for (start, key, model), totals in sorted(sums.items(), key=lambda item: item[0][0])
    ]


async def request_totals(connection: AsyncConnection, query: RequestQuery) -> dict[str, Any]:
    """Counts and sums over every row ``query`` selects (its ``limit`` aside)."""
    statement = select(
        func.count(),
        func.coalesce(func.sum(case((request_log.c.status_code >= 400, 1), else_=0)), 0),
        func.avg(request_log.c.latency_ms),
        func.coalesce(func.sum(request_log.c.prompt_tokens), 0),
        func.coalesce(func.sum(request_log.c.completion_tokens), 0),
        func.coalesce(func.sum(request_log.c.cost), 0.0),
        func.coalesce(func.sum(case((request_log.c.cache_hit, 1), else_=0)), 0),
    ).where(and_(True, *query.conditions()))
    row = (await connection.execute(statement)).one()
    return {
        "count": int(row[0]),
        "errors": int(row[1]),
        "average_latency_ms": float(row[2]) if row[2] is not None else None,
        "prompt_tokens": int(row[3]),
        "completion_tokens": int(row[4]),
        "cost": float(row[5]),
        "cache_hits": int(row[6]),
    }


async def model_stats(
    connection: AsyncConnection, since: datetime | None
) -> dict[str, tuple[int, float | None]]:
    """Requests and mean latency per answering model (the request log's ``served_model``)."""
    served = func.coalesce(request_log.c.served_model, request_log.c.model)
    statement = select(served, func.count(), func.avg(request_log.c.latency_ms)).group_by(served)
    if since is not None:
        statement = statement.where(request_log.c.created_at >= since)
    rows = (await connection.execute(statement)).all()
    return {row[0]: (int(row[1]), float(row[2]) if row[2] is not None else None) for row in rows}


async def model_feedback(
    connection: AsyncConnection, since: datetime | None
) -> dict[str, tuple[float | None, float | None]]:
    """Mean accuracy (0-1) and mean rating (1-5) per model, of the feedback users gave (``/v1/feedback``)."""
    statement = select(feedback.c.model, func.avg(feedback.c.accuracy), func.avg(feedback.c.rating)).group_by(
        feedback.c.model
    )
    if since is not None:
        statement = statement.where(feedback.c.created_at >= since)
    rows = (await connection.execute(statement)).all()
    return {
        row[0]: (float(row[1]) if row[1] is not None else None, float(row[2]) if row[2] is not None else None)
        for row in rows
    }
