"""Writes of the events pipeline: seen ids, additive upserts into aggregate buckets, feedback rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.event_tables import event_seen, feedback
from citadel.store.tables import request_log


def insert_for(connection: AsyncConnection, table: Table) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"events tables on {dialect}")


async def mark_seen(connection: AsyncConnection, group: str, event_ids: Sequence[str], now: int) -> set[str]:
    """Record ``event_ids`` for ``group`` in one statement; the ids that were new (the rest are repeats)."""
    if not event_ids:
        return set()
    rows = [{"group_name": group, "event_id": event_id, "seen_at": now} for event_id in event_ids]
    statement = insert_for(connection, event_seen).values(rows).on_conflict_do_nothing()
    result = await connection.execute(statement.returning(event_seen.c.event_id))
    return {row[0] for row in result.all()}


async def upsert_add(
    connection: AsyncConnection,
    table: Table,
    keys: Mapping[str, Any],
    adds: Mapping[str, float],
    maxima: Mapping[str, float] | None = None,
) -> None:
    """Add ``adds`` to the row at ``keys`` (created at zero first); ``maxima`` keep the larger value."""
    maxima = maxima or {}
    statement = insert_for(connection, table).values({**keys, **adds, **maxima})
    excluded = statement.excluded
    changes: dict[str, Any] = {name: table.c[name] + excluded[name] for name in adds}
    for name in maxima:
        larger = func.greatest if connection.dialect.name == "postgresql" else func.max
        changes[name] = larger(table.c[name], excluded[name])
    await connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


async def purge_before(connection: AsyncConnection, table: Table, column: str, before: int) -> int:
    result = await connection.execute(delete(table).where(table.c[column] < before))
    return max(result.rowcount, 0)


async def request_owner(connection: AsyncConnection, request_id: str) -> tuple[bool, int | None, str]:
    """Whether ``request_id`` is in the request log, its key id and the model that answered it."""
    row = (
        await connection.execute(
            select(request_log.c.key_id, request_log.c.model, request_log.c.served_model).where(
                request_log.c.request_id == request_id
            )
        )
    ).first()
    if row is None:
        return False, None, ""
    return True, row.key_id, row.served_model or row.model


async def insert_feedback(connection: AsyncConnection, row: Mapping[str, Any]) -> bool:
    """Insert one feedback row; False when the request has feedback already."""
    statement = (
        insert_for(connection, feedback)
        .values(dict(row))
        .on_conflict_do_nothing(index_elements=["request_id"])
    )
    result = await connection.execute(statement)
    return bool(result.rowcount and result.rowcount > 0)
