"""The schema: API keys, the request log and the audit log (SQLAlchemy Core; migrations in ``migrations/``).

Only a SHA-256 hash of a key's secret is stored, with a visible ``prefix`` (``ctd_ab12cd34``) to tell keys
apart. ``request_log.request_id`` is unique, which makes a replayed batch idempotent.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from citadel.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("tier", String(64), nullable=False),
    Column("allowed_models", JSON, nullable=True),  # null: every model
    Column("spend_limit", Float, nullable=True),  # null: no budget
    Column("spend_period", String(16), nullable=False, server_default="month"),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

request_log = Table(
    "request_log",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("key_id", Integer, nullable=True),
    Column("model", String(200), nullable=False),
    Column("served_model", String(200), nullable=True),
    Column("endpoint", String(200), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_type", String(100), nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("prompt_tokens", Integer, nullable=False, server_default="0"),
    Column("completion_tokens", Integer, nullable=False, server_default="0"),
    Column("cost", Float, nullable=False, server_default="0"),
    Column("cache_hit", Boolean, nullable=False, server_default=false()),
    Column("request_body", Text, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("transport", String(16), nullable=False, server_default="http"),  # migration 0014
    Index("ix_request_log_created_at", "created_at"),
    Index("ix_request_log_key_id_created_at", "key_id", "created_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(200), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)

# Every config a reload tried (``citadel.reload.history``): the text itself, so that any applied version
# can be rolled back to; ``result`` is applied, refused (invalid), rolled_back or failed.
config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("source", String(32), nullable=False),
    Column("config_path", String(1000), nullable=False),
    Column("config_sha256", String(64), nullable=False),
    Column("config_text", Text, nullable=False),
    Column("diff", JSON, nullable=False),
    Column("result", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
)

# The admin console's users and their sessions (citadel.live.console; migration 0014). Passwords are kept as
# scrypt hashes, session tokens as SHA-256 hashes: a copy of the database signs nobody in.
console_users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)
