"""Tables of the events pipeline: feedback, the consumers' seen event ids, and their aggregates.

Buckets are epoch seconds (``bucket_start``), the start of the consumer's interval: integer keys that upsert
the same on SQLite and PostgreSQL. ``event_seen`` makes each consumer group exactly-once per event id: the id
is inserted in the same transaction as the handler's writes, and an id already there is skipped.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from citadel.store.tables import metadata
from citadel.store.types import UTCDateTime

_BigId = BigInteger().with_variant(Integer(), "sqlite")

feedback = Table(
    "feedback",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),  # one feedback per request
    Column("key_id", Integer, nullable=True),
    Column("model", String(200), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("accuracy", Float, nullable=True),
    Column("helpful", Boolean, nullable=True),
    Column("business_value", Float, nullable=True),
    Column("comment", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_feedback_created_at", "created_at"),
)

event_seen = Table(
    "event_seen",
    metadata,
    Column("group_name", String(100), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("group_name", "event_id", name="pk_event_seen"),
    Index("ix_event_seen_seen_at", "seen_at"),
)


def _sums() -> list[Column[float]]:
    """The additive columns every aggregate row carries."""
    return [
        Column("requests", Integer, nullable=False, server_default="0"),
        Column("errors", Integer, nullable=False, server_default="0"),
        Column("cache_hits", Integer, nullable=False, server_default="0"),
        Column("prompt_tokens", BigInteger, nullable=False, server_default="0"),
        Column("completion_tokens", BigInteger, nullable=False, server_default="0"),
        Column("cost", Float, nullable=False, server_default="0"),
        Column("latency_ms_sum", Float, nullable=False, server_default="0"),
        Column("feedback_count", Integer, nullable=False, server_default="0"),
        Column("rating_sum", Float, nullable=False, server_default="0"),
        Column("accuracy_count", Integer, nullable=False, server_default="0"),
        Column("accuracy_sum", Float, nullable=False, server_default="0"),
        Column("helpful_count", Integer, nullable=False, server_default="0"),
        Column("business_value", Float, nullable=False, server_default="0"),
    ]


# metrics-aggregator: per model and 5-minute bucket.
model_aggregates = Table(
    "event_model_aggregates",
    metadata,
    Column("model", String(200), nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    *_sums(),
    Column("latency_ms_sq_sum", Float, nullable=False, server_default="0"),
    Column("latency_ms_max", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("model", "bucket_start", name="pk_event_model_aggregates"),
)

# business-intelligence: per model, key (0: no key) and hour.
business_reports = Table(
    "event_business_reports",
    metadata,
    Column("model", String(200), nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    *_sums(),
    PrimaryKeyConstraint("model", "key_id", "bucket_start", name="pk_event_business_reports"),
)

# capacity-planner: per model and day, the day's traffic; the forecast rows come from its runs.
capacity_days = Table(
    "event_capacity_days",
    metadata,
    Column("model", String(200), nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("requests", Integer, nullable=False, server_default="0"),
    Column("prompt_tokens", BigInteger, nullable=False, server_default="0"),
    Column("completion_tokens", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("model", "bucket_start", name="pk_event_capacity_days"),
)

capacity_forecasts = Table(
    "event_capacity_forecasts",
    metadata,
    Column("model", String(200), nullable=False),
    Column("day_start", BigInteger, nullable=False),  # the day forecast
    Column("history_days", Integer, nullable=False),
    Column("trend_per_day", Float, nullable=False),  # requests/day gained per day (least squares)
    Column("forecast_requests", Float, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("model", "day_start", name="pk_event_capacity_forecasts"),
)
