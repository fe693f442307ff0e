"""The key cache: one database query per key however many requests find it expired at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from citadel.config.sections import DatabaseSettings
from citadel.governance.api_keys import hash_secret
from citadel.governance.directory import KeyDirectory
from citadel.store import Database, open_database
from citadel.store.keys import NewKey, create_key, update_key

SECRET = "ctd_test-secret-for-the-key-directory"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _database_with_key(url: str) -> tuple[Database, list[str], int]:
    database = await open_database(DatabaseSettings(url=url))
    async with database.transaction() as connection:
        record = await create_key(
            connection, NewKey(prefix="ctd_test", secret_hash=hash_secret(SECRET), name="t", tier="standard")
        )
    lookups: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_keys" in statement:
            lookups.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    return database, lookups, record.id


async def test_concurrent_lookups_of_an_expired_key_share_one_query(sqlite_url: str) -> None:
    database, lookups, _ = await _database_with_key(sqlite_url)
    clock = Clock()
    directory = KeyDirectory(database, ttl_s=5.0, clock=clock)
    try:
        records = await asyncio.gather(*(directory.lookup(hash_secret(SECRET)) for _ in range(32)))
        assert len(lookups) == 1
        assert {record.name for record in records if record is not None} == {"t"}
        assert all(record is not None for record in records)
        clock.now = 6.0  # expired: the next burst refreshes it, once
        await asyncio.gather(*(directory.lookup(hash_secret(SECRET)) for _ in range(32)))
        assert len(lookups) == 2
        await directory.lookup(hash_secret(SECRET))  # fresh again: from the cache
        assert len(lookups) == 2
    finally:
        await database.aclose()


async def test_the_first_caller_leaving_does_not_fail_the_others(sqlite_url: str) -> None:
    database, _, _ = await _database_with_key(sqlite_url)
    directory = KeyDirectory(database, ttl_s=5.0)
    try:
        first = asyncio.ensure_future(directory.lookup(hash_secret(SECRET)))
        await asyncio.sleep(0)  # it has started the query
        others = [asyncio.ensure_future(directory.lookup(hash_secret(SECRET))) for _ in range(3)]
        first.cancel()
        results = await asyncio.gather(*others)
        assert all(record is not None and record.name == "t" for record in results)
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await database.aclose()


async def test_forget_during_a_refresh_keeps_its_answer_out_of_the_cache(sqlite_url: str) -> None:
    database, lookups, key_id = await _database_with_key(sqlite_url)
    directory = KeyDirectory(database, ttl_s=60.0)
    try:
        pending = asyncio.ensure_future(directory.lookup(hash_secret(SECRET)))
        await asyncio.sleep(0)
        directory.forget()  # this process changed a key meanwhile: what the refresh read may be old
        async with database.transaction() as connection:
            await update_key(connection, key_id, name="renamed")
        assert await pending is not None
        record = await directory.lookup(hash_secret(SECRET))
        assert record is not None
        assert record.name == "renamed"
        assert len(lookups) == 2
    finally:
        await database.aclose()
