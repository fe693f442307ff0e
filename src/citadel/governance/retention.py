"""Retention (seed F.1.1 ``data_retention_policies``: raw logs 30 days): ``citadel db purge`` and a task."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from citadel.config.sections import RequestLogSettings
from citadel.store.database import Database
from citadel.store.request_log import purge
from citadel.store.types import utcnow

logger = logging.getLogger(__name__)


async def purge_expired(
    database: Database, settings: RequestLogSettings, now: datetime | None = None
) -> tuple[int, int]:
    """Delete request-log and audit rows older than their retention; returns (requests, audit rows)."""
    now = now or utcnow()
    requests_days, audit_days = settings.retention_days, settings.audit_retention_days
    async with database.transaction() as connection:
        return await purge(
            connection,
            requests_before=now - timedelta(days=requests_days) if requests_days else None,
            audit_before=now - timedelta(days=audit_days) if audit_days else None,
        )


async def run_retention(database: Database, settings: RequestLogSettings) -> None:
    """Purge every ``purge_interval_s`` until cancelled; a database that is away is tried next time."""
    while True:
        try:
            requests, audits = await purge_expired(database, settings)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            logger.warning("retention purge skipped: %s", type(exc).__name__)
        else:
            if requests or audits:
                logger.info("retention: purged %d request-log and %d audit rows", requests, audits)
        await asyncio.sleep(settings.purge_interval_s)
