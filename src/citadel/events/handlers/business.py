"""``business-intelligence``: hourly rows per model and API key: cost, business value, satisfaction, ROI.

ROI is read from a row as ``business_value / cost`` (value and cost both in ``events.currency``); the rows
are kept ``report_retention_days`` (the blueprint's 5 years).
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.events.handlers.base import HandlerContext, Sums, bucket, event_model, sums
from citadel.events.schema import Event
from citadel.store.event_rows import purge_before
from citadel.store.event_tables import business_reports


class BusinessIntelligence:
    name = "business-intelligence"

    def __init__(self, context: HandlerContext) -> None:
        self._context = context
        self._settings = context.settings.events

    def topics(self) -> list[str]:
        return [self._settings.topics.requests.name, self._settings.topics.feedback.name]

    async def handle(self, connection: AsyncConnection, events: list[Event]) -> None:
        batch = Sums()
        interval = self._settings.consumers.report_interval_s
        for event in events:
            adds = sums(event)
            if adds:
                key_id = event.data.get("key_id")
                key = (
                    event_model(event),
                    int(key_id) if key_id is not None else 0,
                    bucket(event.at, interval),
                )
                batch.add(key, adds)
        await batch.write(connection, business_reports, ("model", "key_id", "bucket_start"))

    async def after_batch(self) -> None:
        return None

    async def finish_run(self) -> None:
        keep_s = self._settings.consumers.report_retention_days * 86400
        async with self._context.database.transaction() as connection:
            await purge_before(connection, business_reports, "bucket_start", int(time.time()) - keep_s)
