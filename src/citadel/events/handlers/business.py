"""``business-intelligence``: hourly rows per model and API key: cost, business value, satisfaction, ROI.

ROI is read from a row as ``business_value / cost`` (value and cost both in ``events.currency``); the rows
are kept ``report_retention_days`` (the blueprint's 5 years).
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.events.handlers.base import HandlerContext, bucket, event_model, sums
from citadel.events.schema import Event
from citadel.store.event_rows import purge_before, upsert_add
from citadel.store.event_tables import business_reports


class BusinessIntelligence:
    name = "business-intelligence"

    def __init__(self, context: HandlerContext) -> None:
        self._context = context
        self._settings = context.settings.events

    def topics(self) -> list[str]:
        return [self._settings.topics.requests.name, self._settings.topics.feedback.name]

    async def handle(self, connection: AsyncConnection, event: Event) -> None:
        adds = sums(event)
        if not adds:
            return
        key_id = event.data.get("key_id")
        keys = {
            "model": event_model(event),
            "key_id": int(key_id) if key_id is not None else 0,
            "bucket_start": bucket(event.at, self._settings.consumers.report_interval_s),
        }
        await upsert_add(connection, business_reports, keys, adds)

    async def after_batch(self) -> None:
        return None

    async def finish_run(self) -> None:
        keep_s = self._settings.consumers.report_retention_days * 86400
        async with self._context.database.transaction() as connection:
            await purge_before(connection, business_reports, "bucket_start", int(time.time()) - keep_s)
