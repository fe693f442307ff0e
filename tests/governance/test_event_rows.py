"""The events pipeline's writes on every backend (SQLite, PostgreSQL, PostgreSQL through Pgpool-II): seen ids
in one statement, additive upserts with maxima, one feedback per request."""

from __future__ import annotations

from sqlalchemy import select

from citadel.config.sections import DatabaseSettings
from citadel.store import open_database
from citadel.store.event_rows import insert_feedback, mark_seen, request_owner, upsert_add
from citadel.store.event_tables import model_aggregates
from citadel.store.request_log import insert_rows
from citadel.store.types import utcnow


async def test_event_rows_on_each_backend(database_url: str) -> None:
    database = await open_database(DatabaseSettings(url=database_url))
    try:
        async with database.transaction() as connection:
            assert await mark_seen(connection, "g", ["a", "b"], 1) == {"a", "b"}
            assert await mark_seen(connection, "g", ["b", "c"], 2) == {"c"}
            assert await mark_seen(connection, "other", ["a"], 2) == {"a"}  # per group
            key = {"model": "m", "bucket_start": 300}
            await upsert_add(
                connection, model_aggregates, key, {"requests": 2, "cost": 0.5}, {"latency_ms_max": 9}
            )
            await upsert_add(
                connection, model_aggregates, key, {"requests": 3, "cost": 0.25}, {"latency_ms_max": 4}
            )
            row = (await connection.execute(select(model_aggregates))).one()
            assert (row.requests, row.cost, row.latency_ms_max) == (5, 0.75, 9)
            entry = {
                "request_id": "r1",
                "key_id": 7,
                "model": "m",
                "served_model": "m2",
                "endpoint": "/v1/completions",
                "status_code": 200,
                "error_type": None,
                "latency_ms": 1.0,
                "ttft_ms": None,
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "cost": 0.0,
                "cache_hit": False,
                "transport": "http",
                "request_body": None,
                "response_body": None,
                "created_at": utcnow(),
            }
            await insert_rows(connection, [entry])
            assert await request_owner(connection, "r1") == (True, 7, "m2")
            assert await request_owner(connection, "nope") == (False, None, "")
            feedback = {"request_id": "r1", "key_id": 7, "model": "m2", "rating": 4, "created_at": utcnow()}
            assert await insert_feedback(connection, feedback) is True
            assert await insert_feedback(connection, feedback | {"rating": 1}) is False
    finally:
        await database.aclose()
