"""``alerting``: anomaly, capacity and budget events become Alertmanager alerts (its API v2).

Each alert ends ``_ALERT_TTL_S`` after its event unless another event renews it: an event is a moment, not a
condition Prometheus keeps evaluating. A failed POST raises :class:`AlertmanagerUnavailable`: the batch's
transaction rolls back, its offsets are not committed, and the consumer reads it again a little later (a
``--once`` run exits with the error instead).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.events.handlers.base import HandlerContext, RetryLater
from citadel.events.schema import ANOMALY_DETECTED, BUDGET_EXHAUSTED, CAPACITY_THRESHOLD_REACHED, Event

_ALERT_TTL_S = 3600.0

# event type -> (alertname, severity, category, summary)
_ALERTS = {
    ANOMALY_DETECTED: ("LLM_Anomaly_Detected", "medium", "anomaly_detection", "Anomalous latency of {model}"),
    CAPACITY_THRESHOLD_REACHED: (
        "LLM_Capacity_Threshold_Reached",
        "medium",
        "capacity_planning",
        "{model} passed its capacity threshold",
    ),
    BUDGET_EXHAUSTED: (
        "LLM_Budget_Exhausted",
        "high",
        "business_impact",
        "API key {key} exhausted its budget",
    ),
}


class AlertmanagerUnavailable(RetryLater):
    """Alertmanager did not take the alert; the event is retried."""


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def alert_for(event: Event) -> dict[str, object] | None:
    """The Alertmanager alert an event raises, or None for events that raise none."""
    known = _ALERTS.get(event.type)
    if known is None:
        return None
    name, severity, category, summary = known
    data = event.data
    labels = {"alertname": name, "severity": severity, "category": category, "source": "citadel-events"}
    if "model" in data:
        labels["model"] = str(data["model"])
    if "key_id" in data:
        labels["key"] = str(data["key_id"])
    details = ", ".join(f"{name}={value}" for name, value in sorted(data.items()))
    return {
        "labels": labels,
        "annotations": {
            "summary": summary.format(model=data.get("model", "?"), key=data.get("key_id", "?")),
            "description": f"{event.type}: {details} (event {event.id})",
        },
        "startsAt": _time(event.at),
        "endsAt": _time(event.at + _ALERT_TTL_S),
    }


class Alerting:
    name = "alerting"

    def __init__(self, context: HandlerContext) -> None:
        self._context = context
        self._settings = context.settings.events
        self._url = self._settings.consumers.alertmanager_url.rstrip("/") + "/api/v2/alerts"

    def topics(self) -> list[str]:
        return [self._settings.topics.business.name]

    async def handle(self, connection: AsyncConnection, events: list[Event]) -> None:
        alerts = [alert for alert in map(alert_for, events) if alert is not None]
        if not alerts:
            return
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.post(self._url, json=alerts)
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailable(f"{self._url}: {exc}") from exc
        if response.status_code >= 300:
            raise AlertmanagerUnavailable(f"{self._url}: {response.status_code} {response.text[:200]}")

    async def after_batch(self) -> None:
        return None

    async def finish_run(self) -> None:
        return None
