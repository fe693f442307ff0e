"""Running the Alembic migrations from code (on open, or ``citadel db upgrade``), one process at a time."""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from citadel.store.database import Database, sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 0xC17ADE1  # any constant: serialises concurrent upgrades across processes


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    command.upgrade(_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction."""
    lock_path = sqlite_file(database.engine.url.render_as_string(hide_password=False))
    # The SQLite lock is a blocking flock: take it off the event loop.
    lock = _file_lock(lock_path)
    await asyncio.to_thread(lock.__enter__)
    try:
        async with database.transaction() as connection:
            await connection.run_sync(_upgrade, revision)
    finally:
        lock.__exit__(None, None, None)


async def current_revision(database: Database) -> str | None:
    async with database.transaction() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str:
    """The newest revision the migrations define (what ``upgrade`` brings a database to)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head
