"""``citadel bench`` against the shared running stack: numbers per level, targets from the config, a chart."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from citadel.cli.main import cli
from tests.helpers import SMOLLM2_NAME
from tests.ops.stack import OpsStack


def _with_targets(ops_stack: OpsStack, directory: Path, **targets: int) -> Path:
    data = yaml.safe_load(ops_stack.config.read_text(encoding="utf-8"))
    data["models"][0]["targets"] = targets
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _bench(config: Path, out: Path, scenarios: str) -> tuple[int, str]:
    argv = [
        "bench",
        "--config",
        str(config),
        "--model",
        SMOLLM2_NAME,
        "--concurrency",
        "1,2",
        "--requests",
        "2",
    ]
    result = CliRunner().invoke(
        cli, [*argv, "--scenarios", scenarios, "--out", str(out)], catch_exceptions=False
    )
    return result.exit_code, result.output


def test_bench_measures_each_level_and_passes_generous_targets(ops_stack: OpsStack, tmp_path: Path) -> None:
    generous = {
        "average_latency_ms": 600_000,
        "p95_latency_ms": 600_000,
        "throughput_rpm": 1,
        "concurrent_requests": 2,
    }
    code, output = _bench(
        _with_targets(ops_stack, tmp_path, **generous), tmp_path / "out", "short=4,conversation=4"
    )
    assert code == 0, output
    [results_file] = (tmp_path / "out").glob("bench-*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert results["passed"] is True
    rows = {(row["scenario"], row["level"]): row for row in results["results"]}
    assert set(rows) == {("short", 1), ("short", 2), ("conversation", 1), ("conversation", 2)}
    for row in rows.values():
        assert row["model"] == SMOLLM2_NAME
        assert row["requests"] == 2
        assert row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["requests_per_s"] > 0
        assert row["tokens_per_s"] > 0
    checks = {check["check"]: check for check in results["targets"]}
    assert "short at concurrency 2" in checks["p95 latency"]["detail"]
    [chart] = (tmp_path / "out").glob("bench-*.html")
    page = chart.read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # latency and throughput, for each scenario
    assert "<polyline" in page
    assert f"✓ {SMOLLM2_NAME} p95 latency" in output


def test_bench_fails_targets_the_model_cannot_meet(ops_stack: OpsStack, tmp_path: Path) -> None:
    strict = {
        "average_latency_ms": 1,
        "p95_latency_ms": 1,
        "throughput_rpm": 100_000,
        "concurrent_requests": 1,
    }
    code, output = _bench(_with_targets(ops_stack, tmp_path, **strict), tmp_path / "out", "short=2")
    assert code == 1
    assert f"✗ {SMOLLM2_NAME} p95 latency:" in output
    assert "target 1 ms (short at concurrency 1)" in output
    assert f"✗ {SMOLLM2_NAME} throughput:" in output
