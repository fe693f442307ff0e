"""Audit rows: who did which admin action to what, with the state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.tables import audit_log
from citadel.store.types import utcnow


async def write_audit(
    connection: AsyncConnection,
    *,
    actor: str,
    action: str,
    target: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit row, in the caller's transaction (so the action and its record commit together)."""
    await connection.execute(
        insert(audit_log).values(
            at=utcnow(), actor=actor, action=action, target=target, before=before, after=after
        )
    )


async def read_audit(connection: AsyncConnection, *, since: datetime | None = None) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    return [dict(row._mapping) for row in (await connection.execute(query)).all()]
