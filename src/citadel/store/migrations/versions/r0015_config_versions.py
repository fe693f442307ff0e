"""config_versions: every config a reload tried, with who, when, the diff and the result

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from citadel.store.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("config_path", sa.String(1000), nullable=False),
        sa.Column("config_sha256", sa.String(64), nullable=False),
        sa.Column("config_text", sa.Text, nullable=False),
        sa.Column("diff", sa.JSON, nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_config_versions"),
    )
    op.create_index("ix_config_versions_at", "config_versions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_config_versions_at", table_name="config_versions")
    op.drop_table("config_versions")
