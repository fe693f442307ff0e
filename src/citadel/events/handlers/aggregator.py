"""``metrics-aggregator``: per-model 5-minute buckets, anomaly and capacity events, the business gauges.

Each request and feedback event adds to its model's bucket. After a batch, each touched bucket is compared
with the model's earlier buckets (``planning_history_days``): a mean latency more than ``anomaly_z`` standard
deviations above theirs publishes ``anomaly_detected``; a request rate above ``capacity_rpm_share`` of the
model's ``targets.throughput_rpm`` publishes ``capacity_threshold_reached``. Their ids are derived from the
model and bucket, so a bucket judged twice (a replay, a restart) still gives one event each.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.config import LocalModelSettings
from citadel.events.analysis import least_squares
from citadel.events.handlers.base import HandlerContext, Sums, bucket, event_model, sums
from citadel.events.schema import ANOMALY_DETECTED, CAPACITY_THRESHOLD_REACHED, REQUEST_PROCESSED, Event
from citadel.store.event_rows import purge_before
from citadel.store.event_tables import model_aggregates

_DAY_S = 86400
_GAUGE_WINDOW_S = 3600
_GAUGE_REFRESH_S = 15.0  # old buckets leave the window even when nothing new comes


class MetricsAggregator:
    name = "metrics-aggregator"

    def __init__(self, context: HandlerContext) -> None:
        self._context = context
        self._settings = context.settings.events
        self._interval = self._settings.consumers.aggregate_interval_s
        self._touched: set[tuple[str, int]] = set()
        self._next_refresh = 0.0

    def topics(self) -> list[str]:
        return [self._settings.topics.requests.name, self._settings.topics.feedback.name]

    async def handle(self, connection: AsyncConnection, events: list[Event]) -> None:
        batch = Sums()
        for event in events:
            adds = sums(event)
            if not adds:
                continue
            key = (event_model(event), bucket(event.at, self._interval))
            latency = float(event.data.get("latency_ms", 0.0)) if event.type == REQUEST_PROCESSED else 0.0
            batch.add(key, {**adds, "latency_ms_sq_sum": latency * latency}, {"latency_ms_max": latency})
            self._touched.add(key)
        await batch.write(connection, model_aggregates, ("model", "bucket_start"))

    async def after_batch(self) -> None:
        touched, self._touched = self._touched, set()
        for model, start in sorted(touched):
            await self._judge(model, start)
        if touched or time.monotonic() >= self._next_refresh:  # an idle poll reads the table now and then
            self._next_refresh = time.monotonic() + _GAUGE_REFRESH_S
            await self.refresh_gauges()

    async def finish_run(self) -> None:
        keep_s = self._settings.consumers.aggregate_retention_days * _DAY_S
        async with self._context.database.transaction() as connection:
            await purge_before(connection, model_aggregates, "bucket_start", int(time.time()) - keep_s)

    # -- thresholds -------------------------------------------------------------------------------------
    async def _judge(self, model: str, start: int) -> None:
        consumers = self._settings.consumers
        since = start - consumers.planning_history_days * _DAY_S
        table = model_aggregates.c
        async with self._context.database.transaction() as connection:
            rows = (
                await connection.execute(
                    select(table.bucket_start, table.requests, table.latency_ms_sum)
                    .where(table.model == model, table.bucket_start >= since, table.bucket_start <= start)
                    .order_by(table.bucket_start)
                )
            ).all()
        current = next((row for row in rows if row.bucket_start == start), None)
        if current is None or current.requests == 0:
            return
        mean_now = current.latency_ms_sum / current.requests
        history = [
            row.latency_ms_sum / row.requests for row in rows if row.bucket_start < start and row.requests
        ]
        z = _z_score(mean_now, history, consumers.anomaly_min_buckets)
        business = self._settings.topics.business.name
        if z is not None and z > consumers.anomaly_z:
            self._context.publish(
                business,
                Event(
                    ANOMALY_DETECTED,
                    model,
                    {
                        "model": model,
                        "bucket_start": start,
                        "metric": "latency_ms",
                        "value": mean_now,
                        "z": z,
                    },
                    id=f"anomaly-{model}-{start}",
                ),
            )
        rpm = current.requests / (self._interval / 60)
        capacity = self._capacity_rpm(model)
        if capacity is not None and rpm > consumers.capacity_rpm_share * capacity:
            self._context.publish(
                business,
                Event(
                    CAPACITY_THRESHOLD_REACHED,
                    model,
                    {
                        "model": model,
                        "bucket_start": start,
                        "requests_per_minute": rpm,
                        "capacity_rpm": capacity,
                    },
                    id=f"capacity-{model}-{start}",
                ),
            )

    def _capacity_rpm(self, model: str) -> float | None:
        for configured in self._context.settings.models:
            if configured.name == model and isinstance(configured, LocalModelSettings):
                return float(configured.targets.throughput_rpm)
        return None

    # -- gauges -----------------------------------------------------------------------------------------
    async def refresh_gauges(self, now: float | None = None) -> None:
        """The business gauges from the last hour of buckets (restart-safe: read from the table)."""
        now = time.time() if now is None else now
        table = model_aggregates.c
        async with self._context.database.transaction() as connection:
            rows = (
                await connection.execute(
                    select(model_aggregates)
                    .where(table.bucket_start >= now - _GAUGE_WINDOW_S)
                    .order_by(table.bucket_start)
                )
            ).all()
        by_model: dict[str, list[Row[Any]]] = {}
        for row in rows:
            by_model.setdefault(row.model, []).append(row)
        metrics = self._context.metrics
        for model, buckets in by_model.items():
            requests = sum(row.requests for row in buckets)
            feedback = sum(row.feedback_count for row in buckets)
            accuracy_count = sum(row.accuracy_count for row in buckets)
            if feedback:
                metrics.satisfaction.labels(model=model).set(sum(r.rating_sum for r in buckets) / feedback)
            if accuracy_count:
                metrics.accuracy.labels(model=model).set(
                    sum(r.accuracy_sum for r in buckets) / accuracy_count
                )
            if requests:
                value = sum(r.business_value for r in buckets)
                metrics.business_value.labels(model=model).set(value / requests)
                metrics.cost_per_request.labels(model=model).set(sum(r.cost for r in buckets) / requests)
            points = [
                (r.bucket_start + self._interval / 2, r.requests / (self._interval / 60)) for r in buckets
            ]
            slope, intercept = least_squares(points)
            metrics.predicted_load.labels(model=model).set(max(0.0, slope * (now + 1800) + intercept))
        await self._anomaly_scores(now)

    async def _anomaly_scores(self, now: float) -> None:
        consumers = self._settings.consumers
        since = now - consumers.planning_history_days * _DAY_S
        table = model_aggregates.c
        async with self._context.database.transaction() as connection:
            rows = (
                await connection.execute(
                    select(table.model, table.bucket_start, table.requests, table.latency_ms_sum)
                    .where(table.bucket_start >= since, table.requests > 0)
                    .order_by(table.model, table.bucket_start)
                )
            ).all()
        series: dict[str, list[float]] = {}
        for row in rows:
            series.setdefault(row.model, []).append(row.latency_ms_sum / row.requests)
        for model, means in series.items():
            z = _z_score(means[-1], means[:-1], consumers.anomaly_min_buckets)
            score = 0.0 if z is None or z <= 0 else z / (z + consumers.anomaly_z)
            self._context.metrics.anomaly.labels(model=model).set(score)


def _z_score(value: float, history: list[float], least: int) -> float | None:
    """How many standard deviations ``value`` is above ``history``'s mean; None with too little history."""
    if len(history) < least:
        return None
    mean = sum(history) / len(history)
    spread = math.sqrt(sum((x - mean) ** 2 for x in history) / (len(history) - 1))
    if spread == 0:  # a flat history: any jitter would be infinitely many sigmas
        return None
    return (value - mean) / spread
