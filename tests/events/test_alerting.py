"""The ``alerting`` group turns anomaly, capacity and budget events into alerts in a real Alertmanager; with
Alertmanager away the event is not committed and reaches it on the next run."""

from __future__ import annotations

from pathlib import Path

import pytest

from citadel.events.handlers.alerting import AlertmanagerUnavailable
from citadel.events.runner import run_groups
from citadel.events.schema import (
    ANOMALY_DETECTED,
    BUDGET_EXHAUSTED,
    CAPACITY_THRESHOLD_REACHED,
    KEY_CREATED,
    Event,
)
from citadel.events.topics import ensure_topics
from tests.events.alertmanager import AlertmanagerServer
from tests.events.broker import TansuBroker
from tests.events.kafka import event_settings
from tests.events.test_consumers import publish
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)


async def test_business_events_become_alertmanager_alerts(tmp_path: Path, broker: TansuBroker) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    settings = event_settings(tmp_path, broker, consumers={"alertmanager_url": down})
    await ensure_topics(settings.events)
    topic = settings.events.topics.business.name
    events = [
        Event(ANOMALY_DETECTED, "m", {"model": "m", "bucket_start": 0, "z": 5.0}, id="anomaly-m-0"),
        Event(
            CAPACITY_THRESHOLD_REACHED, "m", {"model": "m", "requests_per_minute": 190.0}, id="capacity-m-0"
        ),
        Event(BUDGET_EXHAUSTED, "7", {"key_id": 7, "spent": 1.0, "limit": 1.0}, id="budget-7-day"),
        Event.new(KEY_CREATED, "8", {"key_id": 8}),  # no alert for it
    ]
    await publish(settings, [(topic, event) for event in events], tmp_path / "spill")
    with pytest.raises(AlertmanagerUnavailable):  # nowhere to post: the offsets stay uncommitted
        await run_groups(settings, ["alerting"], once=True)
    alertmanager = AlertmanagerServer(tmp_path / "am")
    try:
        url = {"alertmanager_url": alertmanager.url, "metrics_port": 0, "poll_timeout_s": 0.5}
        settings = event_settings(tmp_path, broker, consumers=url)
        # The three that need an alert failed and come again; the key event needs none, and the first run
        # may have committed its partition before it reached a failing one (offsets are per partition).
        handled = await run_groups(settings, ["alerting"], once=True)
        assert handled["alerting"] in (3, 4), handled
        alerts = {alert["labels"]["alertname"]: alert for alert in alertmanager.alerts()}
        assert set(alerts) == {
            "LLM_Anomaly_Detected",
            "LLM_Capacity_Threshold_Reached",
            "LLM_Budget_Exhausted",
        }
        anomaly = alerts["LLM_Anomaly_Detected"]
        assert anomaly["labels"] == {
            "alertname": "LLM_Anomaly_Detected",
            "severity": "medium",
            "category": "anomaly_detection",
            "source": "citadel-events",
            "model": "m",
        }
        assert alerts["LLM_Budget_Exhausted"]["labels"]["key"] == "7"
        assert await run_groups(settings, ["alerting"], once=True) == {"alerting": 0}  # committed
    finally:
        alertmanager.stop()
