"""Persistence: API keys, request log and audit log on SQLAlchemy 2 (async).

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg, through Pgpool-II) the production store;
``database.url`` picks one. Alembic migrations (``migrations/``) run when the database is opened or with
``citadel db upgrade``. Every statement runs in an explicit transaction (``Database.transaction()``).
"""

from citadel.store.database import Database, create_engine, open_database, sqlite_file
from citadel.store.keys import KeyRecord, NewKey
from citadel.store.usage import UsageFilter, UsageRow

__all__ = [
    "Database",
    "KeyRecord",
    "NewKey",
    "UsageFilter",
    "UsageRow",
    "create_engine",
    "open_database",
    "sqlite_file",
]
