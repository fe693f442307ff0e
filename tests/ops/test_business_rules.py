"""The blueprint's alert rules under its own names (E.1.3): promtool accepts them, each fires when it should
and stays quiet when it should not, and ``llm_model_memory_usage_bytes`` is recorded per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citadel.config import load_settings
from citadel.ops.render.assets import write_files
from citadel.ops.render.prometheus import render_prometheus
from tests.helpers import smollm2_model, write_config
from tests.ops.promtool_cases import Labels, alert_case, expected_alert, load_rules, series, write_test_file
from tests.ops.tools import run, tool

MODEL = "tiny"
GATEWAY = {"job": "citadel-gateway", "instance": "127.0.0.1:8000"}
EVENTS = {"job": "citadel-events", "instance": "127.0.0.1:9108", "model": MODEL}
SERVICE = {"job": "citadel-models", "instance": "127.0.0.1:11499", "model": MODEL, "backend": "llamacpp"}


def _render(directory: Path) -> Path:
    model = smollm2_model(
        11499,
        name=MODEL,
        memory_limit="1G",
        cpu_quota=200,
        targets={"average_latency_ms": 1000, "p95_latency_ms": 2000, "throughput_rpm": 120},
    )
    events = {"sink": "kafka", "consumers": {"business_value_threshold": 0.2}}
    config = write_config(directory, {"gateway": {"port": 8000}, "models": [model], "events": events})
    out = directory / "prometheus"
    write_files(render_prometheus(load_settings(config)), out)
    return out


def _promtool(out: Path, tests: list[dict[str, Any]]) -> None:
    rule_files = sorted((out / "rules").glob("*.yml"))
    check = run([tool("promtool"), "check", "rules", *map(str, rule_files)])
    assert check.returncode == 0, check.stdout + check.stderr
    test_file = write_test_file(out / "tests.yml", rule_files, tests, "1m")
    result = run([tool("promtool"), "test", "rules", str(test_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_blueprints_alerts_fire_and_stay_quiet(tmp_path: Path) -> None:
    out = _render(tmp_path)
    rules = load_rules(out / "rules" / "citadel-alerts.yml")
    names = {rule.get("alert") for rule in rules}
    assert {
        "LLM_Predictive_High_Load",
        "LLM_Anomaly_Response_Time",
        "LLM_Capacity_Planning_CPU",
        "LLM_Capacity_Planning_Memory",
        "LLM_Business_Impact_Critical",
    } <= names

    def fired(name: str, labels: Labels) -> list[dict[str, Labels]]:
        return [expected_alert(rules, name, labels)]

    cases = []
    for name, labels, metric, bad, good, at in [
        # throughput_rpm 120: a forecast of 100/min is over 80 % (96), 90/min is not.
        ("LLM_Predictive_High_Load", EVENTS, "llm_predicted_load_30m", "100x10", "90x10", "10m"),
        # z / (z + 3): 0.6 is z = 4.5 sigma, 0.4 is z = 2 sigma.
        ("LLM_Anomaly_Response_Time", EVENTS, "llm_anomaly_score", "0.6x10", "0.4x10", "10m"),
        # cpu_quota 200 % is 2 cores: 0.5 cores growing 0.001 a minute passes 1.6 within a day.
        (
            "LLM_Capacity_Planning_CPU",
            {"model": MODEL},
            "model:process_cpu_seconds:rate5m",
            "0.5+0.001x180",
            "0.5x180",
            "2h",
        ),
    ]:
        cases.append(alert_case(name, [series(metric, labels, bad)], at, fired(name, labels)))
        cases.append(alert_case(name, [series(metric, labels, good)], at, []))
    # memory_limit 1G: 200 MB growing 0.5 MB a minute passes 85 % within a day; through the recording rule.
    memory = "LLM_Capacity_Planning_Memory"
    rising = [series("process_resident_memory_bytes", SERVICE, "200000000+500000x180")]
    cases.append(alert_case(memory, rising, "2h", fired(memory, {"model": MODEL})))
    steady = [series("process_resident_memory_bytes", SERVICE, "200000000x180")]
    cases.append(alert_case(memory, steady, "2h", []))
    # 20 % errors and value 0.05 per request (under half the 0.2 threshold): critical; value 0.15: not.
    requests = {**GATEWAY, "model": MODEL, "endpoint": "/v1/chat/completions"}
    errors = [
        series("llm_requests_total", {**requests, "status": "success"}, "0+48x30"),
        series("llm_requests_total", {**requests, "status": "error"}, "0+12x30"),
    ]
    impact = "LLM_Business_Impact_Critical"
    low = [*errors, series("llm_business_value_score", EVENTS, "0.05x30")]
    cases.append(alert_case(impact, low, "15m", fired(impact, {"model": MODEL})))
    cases.append(
        alert_case(impact, [*errors, series("llm_business_value_score", EVENTS, "0.15x30")], "15m", [])
    )
    _promtool(out, cases)


@pytest.mark.parametrize("events", ["kafka", "none"])
def test_the_events_consumers_are_scraped_when_events_are_on(tmp_path: Path, events: str) -> None:
    import yaml

    config = write_config(tmp_path, {"events": {"sink": events, "consumers": {"metrics_port": 9555}}})
    files = render_prometheus(load_settings(config))
    jobs = {job["job_name"]: job for job in yaml.safe_load(files["prometheus.yml"])["scrape_configs"]}
    if events == "kafka":
        assert jobs["citadel-events"]["static_configs"] == [{"targets": ["127.0.0.1:9555"]}]
    else:
        assert "citadel-events" not in jobs
