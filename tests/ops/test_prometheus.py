"""``citadel render prometheus``: promtool and amtool accept the output, and every alert fires when it should
and stays quiet when it should not (``promtool test rules`` on the rendered rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from citadel.config import load_settings
from citadel.ops.render.assets import write_files
from citadel.ops.render.prometheus import render_prometheus
from tests.helpers import free_port, smollm2_model, write_config
from tests.ops.promtool_cases import Labels, alert_case, expected_alert, load_rules, series, write_test_file
from tests.ops.tools import hxp_settings, run, tool

MODEL = "tiny"
MODEL_PORT = 11499
GATEWAY = {"job": "citadel-gateway", "instance": "127.0.0.1:8000"}
SERVICE = {
    "job": "citadel-models",
    "instance": f"127.0.0.1:{MODEL_PORT}",
    "model": MODEL,
    "backend": "llamacpp",
}
BUCKETS = ("0.1", "0.5", "1", "2", "5", "10", "30", "+Inf")


def _render(directory: Path, p95_latency_ms: int = 2000) -> Path:
    model = smollm2_model(
        MODEL_PORT,
        name=MODEL,
        memory_limit="1G",
        cpu_quota=200,
        limits={"max_waiting": 10},
        targets={"average_latency_ms": 1000, "p95_latency_ms": p95_latency_ms, "throughput_rpm": 120},
    )
    config = write_config(directory, {"gateway": {"port": 8000}, "models": [model]})
    out = directory / "prometheus"
    write_files(render_prometheus(load_settings(config)), out)
    return out


def _promtool_test(out: Path, tests: list[dict[str, Any]], evaluation_interval: str = "1m") -> None:
    rule_files = sorted((out / "rules").glob("*.yml"))
    test_file = write_test_file(out / "tests.yml", rule_files, tests, evaluation_interval)
    result = run([tool("promtool"), "test", "rules", str(test_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_and_amtool_accept_the_hxp_assets(tmp_path: Path) -> None:
    settings, _config = hxp_settings(tmp_path)
    out = tmp_path / "prometheus"
    write_files(render_prometheus(settings), out)
    config_check = run([tool("promtool"), "check", "config", str(out / "prometheus.yml")])
    assert config_check.returncode == 0, config_check.stdout + config_check.stderr
    assert "SUCCESS: 2 rule files found" in config_check.stdout
    rules_check = run([tool("promtool"), "check", "rules", *map(str, sorted((out / "rules").glob("*.yml")))])
    assert rules_check.returncode == 0, rules_check.stdout + rules_check.stderr
    am_check = run([tool("amtool"), "check-config", str(out / "alertmanager.yml")])
    assert am_check.returncode == 0, am_check.stdout + am_check.stderr


def test_scrape_targets_come_from_the_config(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        {"gateway": {"port": 8123}, "models": [smollm2_model(port)], "metrics": {"scrape_interval_s": 7}},
    )
    document = yaml.safe_load(render_prometheus(load_settings(config))["prometheus.yml"])
    assert document["global"]["scrape_interval"] == "7s"
    gateway_job, models_job = document["scrape_configs"]
    assert gateway_job["static_configs"] == [{"targets": ["127.0.0.1:8123"]}]
    [target] = models_job["static_configs"]
    assert target["targets"] == [f"127.0.0.1:{port}"]
    assert target["labels"]["model"] == "smollm2-135m-instruct"


def test_alertmanager_routes_by_the_seeds_severities(tmp_path: Path) -> None:
    out = _render(tmp_path)
    config = str(out / "alertmanager.yml")
    expected = {"critical": "pager-and-chat", "high": "email-and-chat", "medium": "email", "low": "dashboard"}
    for severity, receiver in expected.items():
        result = run(
            [tool("amtool"), "config", "routes", "test", "--config.file", config, f"severity={severity}"]
        )
        assert result.stdout.strip() == receiver, result.stdout + result.stderr


def _latency_buckets(slow: bool) -> list[dict[str, str]]:
    """10 requests a minute, all between 2 and 5 s (slow) or between 0.5 and 1 s (fast)."""
    first = "5" if slow else "1"
    labels: Labels = {**GATEWAY, "model": MODEL, "endpoint": "/v1/chat/completions"}
    return [
        series(
            "llm_request_duration_seconds_bucket",
            {**labels, "le": le},
            "0+10x30" if BUCKETS.index(le) >= BUCKETS.index(first) else "0x30",
        )
        for le in BUCKETS
    ]


def _cases(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def fired(name: str, labels: Labels) -> list[dict[str, Labels]]:
        return [expected_alert(rules, name, labels)]

    gateway_model = {**GATEWAY, "model": MODEL}
    model_only = {"model": MODEL}
    vllm = {**SERVICE, "model_name": MODEL}
    requests = {**gateway_model, "endpoint": "/v1/chat/completions"}

    def request_counters(errors_per_minute: int) -> list[dict[str, str]]:
        return [
            series("llm_requests_total", {**requests, "status": "success"}, "0+60x30"),
            series("llm_requests_total", {**requests, "status": "error"}, f"0+{errors_per_minute}x30"),
        ]

    cases = []
    for name, labels, metric, bad, good, at in [
        ("CitadelGatewayDown", GATEWAY, "up", "1 1 0 0 0 0", "1 1 1 1 1 1", "5m"),
        ("CitadelModelServiceDown", SERVICE, "up", "1 1 0 0 0 0", "1 1 1 1 1 1", "5m"),
        ("CitadelModelUnhealthy", gateway_model, "llm_model_health", "1 0 0 0 0 0", "1 1 1 0 1 1", "5m"),
        ("CitadelKVCachePressure", vllm, "vllm:kv_cache_usage_perc", "0.95x10", "0.5x10", "10m"),
        # limits.max_waiting is 10: more than 8 waiting is saturation.
        ("CitadelQueueSaturated", vllm, "vllm:num_requests_waiting", "9x10", "5x10", "10m"),
        # memory_limit 1G: rising 10 MB a minute from 500 MB passes 90 % within 30 minutes.
        (
            "CitadelPredictedMemoryExhaustion",
            SERVICE,
            "process_resident_memory_bytes",
            "500000000+10000000x40",
            "500000000x40",
            "30m",
        ),
        # throughput_rpm 120 is 2 requests/s: a rate rising 0.05/s a minute passes 1.6/s within 30 minutes.
        ("CitadelPredictedHighLoad", model_only, "model:llm_requests:rate5m", "0.1+0.05x40", "1x40", "30m"),
    ]:
        cases.append(alert_case(name, [series(metric, labels, bad)], at, fired(name, labels)))
        cases.append(alert_case(name, [series(metric, labels, good)], at, []))
    cases += [
        alert_case(
            "CitadelHighErrorRate", request_counters(6), "15m", fired("CitadelHighErrorRate", model_only)
        ),
        alert_case("CitadelHighErrorRate", request_counters(1), "15m", []),
        alert_case(
            "CitadelLatencyAboveTarget",
            _latency_buckets(slow=True),
            "15m",
            fired("CitadelLatencyAboveTarget", model_only),
        ),
        alert_case("CitadelLatencyAboveTarget", _latency_buckets(slow=False), "15m", []),
    ]
    return cases


def test_each_alert_fires_and_stays_quiet_when_it_should(tmp_path: Path) -> None:
    out = _render(tmp_path)
    _promtool_test(out, _cases(load_rules(out / "rules" / "citadel-alerts.yml")))


def test_the_latency_alert_uses_the_models_target(tmp_path: Path) -> None:
    """The same slow traffic (p95 about 4.9 s) is fine once the config's p95 target is 6 s."""
    out = _render(tmp_path, p95_latency_ms=6000)
    assert "> 6\n" in (out / "rules" / "citadel-alerts.yml").read_text(encoding="utf-8")
    _promtool_test(out, [alert_case("CitadelLatencyAboveTarget", _latency_buckets(slow=True), "15m", [])])


def test_recording_rules_compute_error_ratio_and_p95(tmp_path: Path) -> None:
    out = _render(tmp_path)
    labels = {**GATEWAY, "model": MODEL, "endpoint": "/v1/chat/completions"}
    test = {
        "interval": "1m",
        "input_series": [
            series("llm_requests_total", {**labels, "status": "success"}, "0+9x20"),
            series("llm_requests_total", {**labels, "status": "error"}, "0+1x20"),
            *_latency_buckets(slow=True),
        ],
        # Floating point: compare within a tolerance, in PromQL (1 = close enough).
        "promql_expr_test": [
            {
                "expr": f"abs({record} - {value}) < bool 0.001",
                "eval_time": "10m",
                "exp_samples": [{"labels": f'{{model="{MODEL}"}}', "value": 1}],
            }
            for record, value in [
                ("model:llm_request_errors:ratio_rate5m", 0.1),
                # All requests fall in (2, 5]: the 95th percentile interpolates to 2 + 0.95 * 3.
                ("model:llm_request_duration_seconds:p95_5m", 4.85),
            ]
        ],
    }
    _promtool_test(out, [test])


def _steady_then(baseline: list[float], tail: float, tail_points: int) -> str:
    return " ".join(str(value) for value in baseline) + f" {tail}x{tail_points}"


@pytest.mark.parametrize("tail_latency", [3.0, 1.3])
def test_latency_anomaly_is_three_sigma_above_the_weeks_mean(tmp_path: Path, tail_latency: float) -> None:
    """A week of p95 alternating 1.0 / 1.2 s (mean 1.1, sigma 0.1): 3 s is an anomaly, 1.3 s is not."""
    out = _render(tmp_path)
    rules = load_rules(out / "rules" / "citadel-alerts.yml")
    labels = {"model": MODEL}
    week = [1.0, 1.2] * (7 * 24 * 12 // 2)  # 5-minute points
    values = _steady_then(week, tail_latency, 6)
    fired = [expected_alert(rules, "CitadelLatencyAnomaly", labels)] if tail_latency > 1.4 else []
    case = alert_case(
        "CitadelLatencyAnomaly",
        [series("model:llm_request_duration_seconds:p95_5m", labels, values)],
        f"{7 * 24 * 60 + 30}m",
        fired,
        interval="5m",
    )
    _promtool_test(out, [case], evaluation_interval="5m")


@pytest.mark.parametrize(
    ("alert", "metric", "labels", "rising", "steady"),
    [
        # cpu_quota 200 % is 2 cores: 0.5 cores growing 0.001 a minute passes 1.6 within a day.
        (
            "CitadelCapacityPlanningCPU",
            "model:process_cpu_seconds:rate5m",
            {"model": MODEL},
            "0.5+0.001x180",
            "0.5x180",
        ),
        # memory_limit 1G: 200 MB growing 0.5 MB a minute passes 85 % (913 MB) within a day.
        (
            "CitadelCapacityPlanningMemory",
            "process_resident_memory_bytes",
            SERVICE,
            "200000000+500000x180",
            "200000000x180",
        ),
    ],
)
def test_capacity_planning_projects_a_day_ahead(
    tmp_path: Path, alert: str, metric: str, labels: Labels, rising: str, steady: str
) -> None:
    out = _render(tmp_path)
    rules = load_rules(out / "rules" / "citadel-alerts.yml")
    _promtool_test(
        out,
        [
            alert_case(alert, [series(metric, labels, rising)], "2h", [expected_alert(rules, alert, labels)]),
            alert_case(alert, [series(metric, labels, steady)], "2h", []),
        ],
    )
