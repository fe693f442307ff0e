"""Opening the database: one async engine per process, explicit transactions only.

Every statement runs inside ``async with database.transaction()``: through Pgpool-II, asyncpg statements with
parameters outside an explicit transaction were seen not to commit, so nothing here relies on autocommit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from citadel.config.sections import DatabaseSettings

logger = logging.getLogger(__name__)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (relative paths are relative to the working directory); else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine for ``settings.url``: asyncpg pool for PostgreSQL, aiosqlite (WAL) for SQLite."""
    url = make_url(settings.url.get_secret_value())
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(settings.url.get_secret_value())
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": settings.connect_timeout_s})
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=max(settings.pool_min, 1),
        max_overflow=max(settings.pool_max - max(settings.pool_min, 1), 0),
        pool_recycle=settings.idle_timeout_s,
        pool_pre_ping=True,
        pool_timeout=settings.connect_timeout_s,
        connect_args={"timeout": settings.connect_timeout_s, "command_timeout": settings.connect_timeout_s},
    )


class Database:
    """The engine and the one way to use it: ``async with db.transaction() as conn``.

    >>> db = Database(create_engine(settings.database))  # doctest: +SKIP
    >>> async with db.transaction() as conn:  # doctest: +SKIP
    ...     await conn.execute(...)
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            yield connection

    async def aclose(self) -> None:
        await self.engine.dispose()


async def open_database(settings: DatabaseSettings) -> Database:
    """The database, migrated to the newest schema first when ``migrate_on_start`` is set."""
    from citadel.store.migrate import upgrade  # alembic is only imported when needed

    database = Database(create_engine(settings))
    if settings.migrate_on_start:
        try:
            await upgrade(database)
        except BaseException:
            await database.aclose()
            raise
    return database
