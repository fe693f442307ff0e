"""``citadel render grafana``: the dashboards are well-formed Grafana documents, and every panel query
returns data from a real Prometheus that scraped a running stack (``citadel up`` with SmolLM2)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from citadel.config import CitadelSettings
from citadel.ops.render.grafana import render_grafana
from tests.helpers import SMOLLM2_NAME, smollm2_model
from tests.ops.prometheus_server import PrometheusServer
from tests.ops.stack import DASHBOARDS, OpsStack

PANEL_TYPES = {"timeseries", "stat", "table"}

# Metrics a panel reads that the running stack does not export yet (or has no series for until an event).
PENDING = {
    "llm_time_to_first_token_seconds_bucket": "the gateway's TTFT histogram (issue 4)",
    "llm_circuit_breaker_state": "circuit breakers (issue 4)",
    "vllm:kv_cache_usage_perc": "the built-in engine's KV-cache gauge (issue 3)",
    "llm_cache_hits_total": "the response cache (issue 7)",
    "llm_cache_misses_total": "the response cache (issue 7)",
    "llm_usage_requests_total": "per-key usage (issue 5)",
    "llm_usage_tokens_total": "per-key usage (issue 5)",
    "llm_usage_cost_dollars_total": "per-key cost (issue 5)",
    "process_resident_memory_bytes": "process metrics of the built-in model service",
    # The events consumers' series: tests/events/test_pipeline.py proves these panels against a Prometheus
    # that scrapes a gateway and consumers on a real broker.
    **{
        name: "the events consumers (events.sink: kafka)"
        for name in (
            "llm_user_satisfaction_score",
            "llm_model_accuracy_score",
            "llm_business_value_score",
            "llm_cost_per_request_dollars",
            "llm_predicted_load_30m",
            "llm_anomaly_score",
            "citadel_events_consumer_lag",
            "llm_model_memory_usage_bytes",
        )
    },
}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def _settings(model_port: int = 11400, **model_overrides: Any) -> CitadelSettings:
    return CitadelSettings(models=[smollm2_model(model_port, **model_overrides)])


def _dashboards(settings: CitadelSettings) -> dict[str, dict[str, Any]]:
    files = render_grafana(settings)
    return {name: json.loads(files[name]) for name in DASHBOARDS}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: int
    target: int
    title: str

    def expr(self, dashboards: dict[str, dict[str, Any]]) -> str:
        return str(dashboards[self.dashboard]["panels"][self.panel]["targets"][self.target]["expr"])


def _panel_queries() -> list[PanelQuery]:
    return [
        PanelQuery(name, index, target, panel["title"])
        for name, dashboard in _dashboards(_settings()).items()
        for index, panel in enumerate(dashboard["panels"])
        for target in range(len(panel["targets"]))
    ]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_is_a_well_formed_grafana_document(name: str) -> None:
    dashboard = _dashboards(_settings())[name]
    assert {"uid", "title", "panels", "schemaVersion", "templating", "time"} <= dashboard.keys()
    assert len(dashboard["uid"]) <= 40
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_TYPES
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval", "__range"}
            assert used <= variables.keys(), f"{panel['title']} uses undefined variables {used}"


def test_targets_and_prometheus_address_come_from_the_config() -> None:
    settings = CitadelSettings(
        models=[smollm2_model(11400, targets={"average_latency_ms": 500, "p95_latency_ms": 1250})],
        metrics={"prometheus_url": "http://127.0.0.1:9555"},
    )
    files = render_grafana(settings)
    operations = json.loads(files["dashboards/citadel-operations.json"])
    [latency] = [panel for panel in operations["panels"] if panel["title"].startswith("Latency")]
    targets = {target["legendFormat"]: target["expr"] for target in latency["targets"]}
    assert targets[f"{SMOLLM2_NAME} p95 target"] == "vector(1.25)"
    datasources = yaml.safe_load(files["provisioning/datasources/citadel.yaml"])["datasources"]
    assert datasources[0]["url"] == "http://127.0.0.1:9555"


@pytest.fixture(scope="module")
def scraped(ops_stack: OpsStack) -> OpsStack:
    """The stack after some traffic, scraped three more times (a new series needs two samples for rate)."""
    prometheus = ops_stack.prometheus
    ops_stack.send_traffic()
    traffic_done = time.time()
    prometheus.wait_for(
        lambda: bool(prometheus.query(f'min(timestamp(up{{job=~"citadel-.*"}})) > {traffic_done + 3}')),
        60,
        "three scrapes after the traffic",
    )
    return ops_stack


def _as_query(expr: str) -> str:
    """What Grafana would send: every model selected, its interval variables filled in."""
    return expr.replace("$__rate_interval", "1m").replace("$__range", "10m").replace("$model", ".*")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "query", _panel_queries(), ids=lambda q: f"{Path(q.dashboard).stem}:{q.title}:{q.target}"
)
def test_panel_query_returns_data_from_prometheus(scraped: OpsStack, query: PanelQuery) -> None:
    expr = query.expr(scraped.dashboards)
    missing = sorted(
        name
        for name in set(_SELECTOR.findall(expr))
        if name in PENDING and name not in scraped.prometheus.metric_names()
    )
    if missing:
        pytest.skip("; ".join(f"{name} not exported yet: {PENDING[name]}" for name in missing))
    result = scraped.prometheus.query(_as_query(expr))
    if not result and expr.startswith("ALERTS{"):  # a series only while such an alert is pending or firing
        pytest.skip("no predictive alert in this stack: tests/events/test_pipeline.py has one pending")
    assert result, f"no data for {expr}"


@pytest.mark.e2e
def test_rendered_rules_evaluate_cleanly_on_the_live_prometheus(scraped: OpsStack) -> None:
    """Prometheus loaded the rendered rules, evaluates every one without error, and the recording rules whose
    inputs the stack exports produce series."""
    groups = httpx.get(f"{scraped.prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) > 20
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken
    prometheus = scraped.prometheus
    for record in ("model:llm_requests:rate5m", "model:llm_request_duration_seconds:p95_5m"):
        prometheus.wait_for(partial(_has_data, prometheus, record), 30, record)


def _has_data(prometheus: PrometheusServer, expr: str) -> bool:
    return bool(prometheus.query(expr))
