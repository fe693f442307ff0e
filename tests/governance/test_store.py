"""The store on SQLite, PostgreSQL and PostgreSQL through Pgpool-II: schema, keys by hash, idempotent request
rows, usage numbers and retention."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, inspect, select

from citadel.config.sections import DatabaseSettings, RequestLogSettings
from citadel.governance.entry import RequestLogEntry
from citadel.governance.keys_admin import KeySpec, create_key, revoke_key, rotate_key
from citadel.governance.retention import purge_expired
from citadel.store import open_database
from citadel.store.audit import read_audit
from citadel.store.migrate import current_revision, head_revision
from citadel.store.request_log import insert_rows
from citadel.store.tables import api_keys, audit_log, request_log
from citadel.store.types import utcnow
from citadel.store.usage import UsageFilter, usage

TIERS = ("default", "basic")


def _entry(request_id: str, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "request_id": request_id,
        "model": "m",
        "endpoint": "/v1/chat/completions",
        "status_code": 200,
        "latency_ms": 10.0,
    }
    values.update(fields)
    return RequestLogEntry(**values).row()  # type: ignore[arg-type]


async def test_migrations_create_the_tables_once(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    await database.aclose()
    database = await open_database(DatabaseSettings(url=database_url))  # a second upgrade is a no-op
    try:
        assert await current_revision(database) == head_revision()
        async with database.transaction() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"api_keys", "request_log", "audit_log", "alembic_version"} <= names
    finally:
        await database.aclose()


async def test_request_rows_are_idempotent_on_request_id(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    try:
        rows = [_entry(f"req-{i}") for i in range(50)]
        async with database.transaction() as connection:
            await insert_rows(connection, rows)
        async with database.transaction() as connection:  # the same batch again, plus one new row
            await insert_rows(connection, [*rows, _entry("req-new")])
        async with database.transaction() as connection:
            total = (await connection.execute(select(func.count()).select_from(request_log))).scalar_one()
        assert total == 51
    finally:
        await database.aclose()


async def test_every_column_of_a_request_row_is_stored_as_given(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    full = _entry(
        "req-full",
        key_id=7,
        served_model="served",
        error_type="upstream_failed",
        ttft_ms=12.5,
        prompt_tokens=11,
        completion_tokens=22,
        cost=0.25,
        cache_hit=True,
        # What JSON must escape, and text that looks like JSON: the batch travels to PostgreSQL as JSON.
        request_body='asked "quoted" \\ back\nslash, tab\t, ✓ 🚀',
        response_body='{"json": null, "n": 1e999}',
        latency_ms=0.1 + 0.2,  # a float whose shortest repr has 17 digits
        status_code=502,
    )
    sparse = _entry("req-sparse")  # the optional columns empty
    try:
        async with database.transaction() as connection:
            assert await insert_rows(connection, [full, sparse]) == 2
        async with database.transaction() as connection:
            stored = (
                await connection.execute(select(request_log).order_by(request_log.c.request_id))
            ).mappings()
            rows = [{name: row[name] for name in full} for row in stored]
    finally:
        await database.aclose()
    assert rows == [full, sparse]


async def test_keys_are_stored_as_a_hash_and_changes_are_audited(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    try:
        issued = await create_key(database, KeySpec(name="ci", tier="basic"), actor="tester", tiers=TIERS)
        rotated = await rotate_key(database, issued.record.prefix, actor="tester")
        await revoke_key(database, rotated.record.id, actor="tester")
        async with database.transaction() as connection:
            row = (await connection.execute(select(api_keys))).one()
            audit = await read_audit(connection)
        stored = " ".join(str(value) for value in row)
        assert issued.secret not in stored
        assert rotated.secret not in stored
        assert row.secret_hash == hashlib.sha256(rotated.secret.encode()).hexdigest()
        assert row.prefix == rotated.secret[:12] != issued.secret[:12]
        assert row.revoked_at is not None
        assert [entry["action"] for entry in audit] == ["key.create", "key.rotate", "key.revoke"]
        assert all(entry["actor"] == "tester" for entry in audit)
        assert audit[2]["before"]["revoked_at"] is None
        assert audit[2]["after"]["revoked_at"] is not None
        assert issued.secret not in str(audit)
        assert rotated.secret not in str(audit)
    finally:
        await database.aclose()


async def test_usage_by_key_and_model(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    try:
        issued = await create_key(database, KeySpec(name="app", tier="default"), actor="t", tiers=TIERS)
        key_id = issued.record.id
        rows = [
            _entry(
                f"a{i}",
                key_id=key_id,
                latency_ms=float(10 * (i + 1)),
                prompt_tokens=10,
                completion_tokens=5,
                cost=0.5,
                status_code=500 if i == 0 else 200,
            )
            for i in range(10)
        ]
        rows += [_entry(f"b{i}", key_id=None, model="other", latency_ms=5.0) for i in range(3)]
        rows.append(_entry("old", key_id=key_id, created_at=utcnow() - timedelta(days=2)))
        async with database.transaction() as connection:
            await insert_rows(connection, rows)
            found = await usage(connection, UsageFilter(since=utcnow() - timedelta(days=1)))
            only_key = await usage(connection, UsageFilter(key_id=key_id))
        first, second = found
        assert (first.key_prefix, first.model, first.requests) == (issued.record.prefix, "m", 10)
        assert (first.prompt_tokens, first.completion_tokens, first.errors) == (100, 50, 1)
        assert abs(first.cost - 5.0) < 1e-9
        assert first.p50_latency_ms is not None
        assert abs(first.p50_latency_ms - 55.0) < 1e-9
        assert first.p95_latency_ms is not None
        assert abs(first.p95_latency_ms - 95.5) < 1e-9
        assert (second.key_id, second.model, second.requests) == (None, "other", 3)
        assert [(row.model, row.requests) for row in only_key] == [("m", 11)]
    finally:
        await database.aclose()


async def test_purge_removes_what_is_past_retention(database_url: str, tmp_path: Path) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    try:
        now = utcnow()
        rows = [_entry("fresh"), _entry("day-29", created_at=now - timedelta(days=29))]
        rows.append(_entry("day-31", created_at=now - timedelta(days=31)))
        async with database.transaction() as connection:
            await insert_rows(connection, rows)
            await connection.execute(
                audit_log.insert().values(at=now - timedelta(days=400), actor="a", action="key.create")
            )
        requests, audits = await purge_expired(database, RequestLogSettings(retention_days=30), now)
        assert (requests, audits) == (1, 1)
        async with database.transaction() as connection:
            left = set((await connection.execute(select(request_log.c.request_id))).scalars())
        assert left == {"fresh", "day-29"}
    finally:
        await database.aclose()
