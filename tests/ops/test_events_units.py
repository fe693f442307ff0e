"""With ``events.sink: kafka``, ``citadel render systemd`` adds the consumers: one service for the streaming
groups, and a oneshot service and a timer (the blueprint's hourly and daily jobs; no Airflow) for each
scheduled one."""

from __future__ import annotations

from pathlib import Path

from tests.ops.test_systemd import _complaints_about_us, _render, _verify
from tests.ops.tools import hxp_settings


def test_hxp_events_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    settings, config = hxp_settings(tmp_path)
    assert settings.events.sink == "kafka"
    out = _render(tmp_path, config)
    units = [
        "citadel-events.service",
        "citadel-events-business-intelligence.service",
        "citadel-events-business-intelligence.timer",
        "citadel-events-capacity-planner.service",
        "citadel-events-capacity-planner.timer",
    ]
    result = _verify(out, units)
    assert result.returncode == 0, result.stderr
    assert _complaints_about_us(result) == []
    streaming = (out / "citadel-events.service").read_text()
    assert "--group metrics-aggregator --group alerting" in streaming
    hourly = (out / "citadel-events-business-intelligence.timer").read_text()
    assert "OnUnitActiveSec=3600s" in hourly
    daily = (out / "citadel-events-capacity-planner.timer").read_text()
    assert "OnUnitActiveSec=86400s" in daily
    run = (out / "citadel-events-capacity-planner.service").read_text()
    assert "--group capacity-planner --once" in run
    assert "Type=oneshot" in run
