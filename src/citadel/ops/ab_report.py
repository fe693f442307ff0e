"""``citadel ab report``: the variants of a split side by side, from the request log.

Each row is one variant (the model that served requests sent to the split's name): requests, the share of
them, errors (status 400 and up), mean and p95 latency, mean time to first token, tokens and cost. The
request log records the name the client sent (``model``) and the variant that served (``served_model``),
so a report covers exactly the split's traffic. Satisfaction is the mean rating (1-5) of the requests users
rated through ``POST /v1/feedback``, with how many were rated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from citadel.store.database import Database
from citadel.store.event_tables import feedback
from citadel.store.tables import request_log


@dataclass(frozen=True, slots=True)
class VariantReport:
    variant: str
    requests: int
    share: float
    errors: int
    error_rate: float
    latency_ms_mean: float
    latency_ms_p95: float
    ttft_ms_mean: float | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    rated: int  # requests with user feedback
    satisfaction: float | None  # their mean rating, 1-5

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


async def ab_report(database: Database, split: str, *, since: datetime | None = None) -> list[VariantReport]:
    """One row per variant that served requests sent to ``split``, most requests first."""
    columns = request_log.c
    query = select(
        columns.served_model,
        columns.status_code,
        columns.latency_ms,
        columns.ttft_ms,
        columns.prompt_tokens,
        columns.completion_tokens,
        columns.cost,
        feedback.c.rating,
    )
    query = query.select_from(
        request_log.outerjoin(feedback, feedback.c.request_id == columns.request_id)
    ).where(columns.model == split)
    if since is not None:
        query = query.where(columns.created_at >= since)
    async with database.transaction() as connection:
        rows = (await connection.execute(query)).all()
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.served_model or "(none)", []).append(row)
    total = len(rows)
    reports = []
    for variant, group in groups.items():
        latencies = [float(row.latency_ms) for row in group]
        ttfts = [float(row.ttft_ms) for row in group if row.ttft_ms is not None]
        errors = sum(1 for row in group if row.status_code >= 400)
        ratings = [int(row.rating) for row in group if row.rating is not None]
        reports.append(
            VariantReport(
                variant=variant,
                requests=len(group),
                share=len(group) / total,
                errors=errors,
                error_rate=errors / len(group),
                latency_ms_mean=sum(latencies) / len(latencies),
                latency_ms_p95=_p95(latencies),
                ttft_ms_mean=sum(ttfts) / len(ttfts) if ttfts else None,
                prompt_tokens=sum(int(row.prompt_tokens) for row in group),
                completion_tokens=sum(int(row.completion_tokens) for row in group),
                cost=sum(float(row.cost) for row in group),
                rated=len(ratings),
                satisfaction=sum(ratings) / len(ratings) if ratings else None,
            )
        )
    return sorted(reports, key=lambda report: -report.requests)
