"""feedback, event_seen and the events consumers' aggregate tables

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from citadel.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sums() -> list[sa.Column[Any]]:
    def zero(name: str, kind: Any) -> sa.Column[Any]:
        return sa.Column(name, kind, nullable=False, server_default="0")

    return [
        zero("requests", sa.Integer),
        zero("errors", sa.Integer),
        zero("cache_hits", sa.Integer),
        zero("prompt_tokens", sa.BigInteger),
        zero("completion_tokens", sa.BigInteger),
        zero("cost", sa.Float),
        zero("latency_ms_sum", sa.Float),
        zero("feedback_count", sa.Integer),
        zero("rating_sum", sa.Float),
        zero("accuracy_count", sa.Integer),
        zero("accuracy_sum", sa.Float),
        zero("helpful_count", sa.Integer),
        zero("business_value", sa.Float),
    ]


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("accuracy", sa.Float, nullable=True),
        sa.Column("helpful", sa.Boolean, nullable=True),
        sa.Column("business_value", sa.Float, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("request_id", name="uq_feedback_request_id"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_table(
        "event_seen",
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("group_name", "event_id", name="pk_event_seen"),
    )
    op.create_index("ix_event_seen_seen_at", "event_seen", ["seen_at"])
    op.create_table(
        "event_model_aggregates",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("bucket_start", sa.BigInteger, nullable=False),
        *_sums(),
        sa.Column("latency_ms_sq_sum", sa.Float, nullable=False, server_default="0"),
        sa.Column("latency_ms_max", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("model", "bucket_start", name="pk_event_model_aggregates"),
    )
    op.create_table(
        "event_business_reports",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("bucket_start", sa.BigInteger, nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("model", "key_id", "bucket_start", name="pk_event_business_reports"),
    )
    op.create_table(
        "event_capacity_days",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("bucket_start", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("model", "bucket_start", name="pk_event_capacity_days"),
    )
    op.create_table(
        "event_capacity_forecasts",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("day_start", sa.BigInteger, nullable=False),
        sa.Column("history_days", sa.Integer, nullable=False),
        sa.Column("trend_per_day", sa.Float, nullable=False),
        sa.Column("forecast_requests", sa.Float, nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("model", "day_start", name="pk_event_capacity_forecasts"),
    )


def downgrade() -> None:
    for table in (
        "event_capacity_forecasts",
        "event_capacity_days",
        "event_business_reports",
        "event_model_aggregates",
        "event_seen",
        "feedback",
    ):
        op.drop_table(table)
