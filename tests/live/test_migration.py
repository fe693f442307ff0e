"""Migration 0014: the console's tables and ``request_log.transport``, up and down, on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from citadel.config.sections import DatabaseSettings
from citadel.governance import RequestLogEntry
from citadel.store.database import open_database
from citadel.store.migrate import current_revision, head_revision, upgrade
from citadel.store.request_log import insert_rows

pytestmark = pytest.mark.timeout(60)


async def test_upgrade_adds_console_tables_and_transport_and_downgrade_removes_them(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'citadel.db'}"
    database = await open_database(DatabaseSettings(url=url, migrate_on_start=False))
    try:
        await upgrade(database, "0001")
        async with database.transaction() as connection:
            row = RequestLogEntry("before", "m", "/v1/chat/completions", 200, 1.0).row()
            await insert_rows(
                connection, [{name: value for name, value in row.items() if name != "transport"}]
            )
        await upgrade(database)
        assert await current_revision(database) == head_revision()
        async with database.transaction() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("request_log")}
            )
            rows = (await connection.exec_driver_sql("SELECT request_id, transport FROM request_log")).all()
        assert {"console_users", "console_sessions"} <= tables
        assert "transport" in columns
        assert [tuple(row) for row in rows] == [("before", "http")]  # rows from before take the default
        async with database.transaction() as connection:
            await connection.run_sync(lambda sync: _downgrade(sync, "0001"))
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("request_log")}
            )
        assert "console_users" not in tables
        assert "transport" not in columns
    finally:
        await database.aclose()


def _downgrade(connection: object, revision: str) -> None:
    from alembic import command

    from citadel.store.migrate import _config

    command.downgrade(_config(connection), revision)  # type: ignore[arg-type]
