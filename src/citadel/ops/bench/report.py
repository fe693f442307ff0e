"""Turning benchmark runs into numbers, a verdict against each model's targets, JSON and an HTML chart."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from citadel.config import CitadelSettings
from citadel.ops.bench.plan import BenchPlan
from citadel.ops.bench.run import LevelRun


@dataclass(frozen=True, slots=True)
class LevelStats:
    model: str
    scenario: str
    level: int
    requests: int
    errors: int
    requests_per_s: float
    tokens_per_s: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class TargetCheck:
    model: str
    check: str
    ok: bool
    detail: str


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def level_stats(run: LevelRun) -> LevelStats:
    good = [sample for sample in run.samples if sample.ok]
    latencies = [sample.latency_s * 1000 for sample in good] or [math.nan]
    ttfts = [sample.ttft_s * 1000 for sample in good if sample.ttft_s is not None]
    return LevelStats(
        model=run.model,
        scenario=run.scenario,
        level=run.level,
        requests=len(run.samples),
        errors=len(run.samples) - len(good),
        requests_per_s=round(len(good) / run.wall_s, 3),
        tokens_per_s=round(sum(sample.completion_tokens for sample in good) / run.wall_s, 2),
        avg_ms=round(sum(latencies) / len(latencies), 1),
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        ttft_p50_ms=round(percentile(ttfts, 0.50), 1) if ttfts else None,
        ttft_p95_ms=round(percentile(ttfts, 0.95), 1) if ttfts else None,
    )


def check_targets(settings: CitadelSettings, plan: BenchPlan, stats: list[LevelStats]) -> list[TargetCheck]:
    """Each model's targets, on the first scenario at the highest level not above ``concurrent_requests``."""
    checks = []
    scenario = plan.scenarios[0].name
    for model_name in plan.models:
        targets = settings.model(model_name).targets
        fitting = [level for level in plan.levels if level <= targets.concurrent_requests] or [
            min(plan.levels)
        ]
        level = max(fitting)
        [row] = [s for s in stats if s.model == model_name and s.scenario == scenario and s.level == level]
        where = f"{scenario} at concurrency {level}"
        rpm = row.requests_per_s * 60
        checks += [
            TargetCheck(
                model_name, "errors", row.errors == 0, f"{row.errors} of {row.requests} failed ({where})"
            ),
            TargetCheck(
                model_name,
                "average latency",
                row.avg_ms <= targets.average_latency_ms,
                f"{row.avg_ms:.0f} ms, target {targets.average_latency_ms} ms ({where})",
            ),
            TargetCheck(
                model_name,
                "p95 latency",
                row.p95_ms <= targets.p95_latency_ms,
                f"{row.p95_ms:.0f} ms, target {targets.p95_latency_ms} ms ({where})",
            ),
            TargetCheck(
                model_name,
                "throughput",
                rpm >= targets.throughput_rpm,
                f"{rpm:.1f} requests/min, target {targets.throughput_rpm} ({where})",
            ),
        ]
    return checks


def report_json(plan: BenchPlan, stats: list[LevelStats], checks: list[TargetCheck]) -> dict[str, object]:
    return {
        "gateway": plan.gateway_url,
        "levels": list(plan.levels),
        "scenarios": {scenario.name: scenario.max_tokens for scenario in plan.scenarios},
        "results": [asdict(row) for row in stats],
        "targets": [asdict(check) for check in checks],
        "passed": all(check.ok for check in checks),
    }
