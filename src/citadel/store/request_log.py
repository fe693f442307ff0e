"""Request-log rows: idempotent batch inserts (a replayed batch adds nothing twice), spend sums, purges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.tables import audit_log, request_log


async def insert_rows(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows``; a ``request_id`` already present is skipped. Returns the rows inserted."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(request_log).on_conflict_do_nothing(index_elements=["request_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(request_log).on_conflict_do_nothing(index_elements=["request_id"])
    else:
        raise NotImplementedError(f"request log on {dialect}")
    result = await connection.execute(statement, list(rows))
    return max(result.rowcount, 0)


async def spent_since(connection: AsyncConnection, key_id: int, since: datetime) -> float:
    query = select(func.coalesce(func.sum(request_log.c.cost), 0.0)).where(
        request_log.c.key_id == key_id, request_log.c.created_at >= since
    )
    return float((await connection.execute(query)).scalar_one())


async def purge(
    connection: AsyncConnection, *, requests_before: datetime | None, audit_before: datetime | None
) -> tuple[int, int]:
    """Delete request-log rows older than ``requests_before`` and audit rows older than ``audit_before``."""
    requests = audits = 0
    if requests_before is not None:
        result = await connection.execute(
            delete(request_log).where(request_log.c.created_at < requests_before)
        )
        requests = max(result.rowcount, 0)
    if audit_before is not None:
        result = await connection.execute(delete(audit_log).where(audit_log.c.at < audit_before))
        audits = max(result.rowcount, 0)
    return requests, audits
