"""``capacity-planner``: per-model daily traffic, and at the end of each run a trend and a forecast row.

The trend is the least-squares line through the last ``planning_history_days`` days' request counts; the
forecast is that line at the next day. A run is what the rendered ``citadel-events-capacity-planner.timer``
starts every ``planning_interval_s`` (24 h): it reads what is new, then forecasts.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.events.analysis import least_squares
from citadel.events.handlers.base import HandlerContext, Sums, bucket, event_model
from citadel.events.schema import REQUEST_PROCESSED, Event
from citadel.store.event_rows import insert_for, purge_before
from citadel.store.event_tables import capacity_days, capacity_forecasts

_DAY_S = 86400


class CapacityPlanner:
    name = "capacity-planner"

    def __init__(self, context: HandlerContext) -> None:
        self._context = context
        self._settings = context.settings.events

    def topics(self) -> list[str]:
        return [self._settings.topics.requests.name]

    async def handle(self, connection: AsyncConnection, events: list[Event]) -> None:
        batch = Sums()
        for event in events:
            if event.type == REQUEST_PROCESSED:
                data = event.data
                adds = {
                    "requests": 1,
                    "prompt_tokens": int(data.get("prompt_tokens", 0)),
                    "completion_tokens": int(data.get("completion_tokens", 0)),
                }
                batch.add((event_model(event), bucket(event.at, _DAY_S)), adds)
        await batch.write(connection, capacity_days, ("model", "bucket_start"))

    async def after_batch(self) -> None:
        return None

    async def finish_run(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        consumers = self._settings.consumers
        today = bucket(now, _DAY_S)
        since = today - consumers.planning_history_days * _DAY_S
        table = capacity_days.c
        async with self._context.database.transaction() as connection:
            rows = (
                await connection.execute(
                    select(table.model, table.bucket_start, table.requests)
                    .where(table.bucket_start >= since, table.bucket_start <= today)
                    .order_by(table.model, table.bucket_start)
                )
            ).all()
            series: dict[str, list[tuple[float, float]]] = {}
            for row in rows:
                series.setdefault(row.model, []).append((row.bucket_start / _DAY_S, float(row.requests)))
            for model, points in series.items():
                slope, intercept = least_squares(points)
                next_day = today + _DAY_S
                values = {
                    "model": model,
                    "day_start": next_day,
                    "history_days": len(points),
                    "trend_per_day": slope,
                    "forecast_requests": max(0.0, slope * (next_day / _DAY_S) + intercept),
                    "computed_at": int(now),
                }
                statement = insert_for(connection, capacity_forecasts).values(values)
                await connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["model", "day_start"],
                        set_={
                            name: statement.excluded[name]
                            for name in values
                            if name not in ("model", "day_start")
                        },
                    )
                )
            await purge_before(
                connection,
                capacity_days,
                "bucket_start",
                int(now) - consumers.aggregate_retention_days * _DAY_S,
            )
            await purge_before(
                connection,
                capacity_forecasts,
                "day_start",
                int(now) - consumers.report_retention_days * _DAY_S,
            )
