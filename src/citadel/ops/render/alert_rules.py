"""Prometheus alert rules (seed E.1.3, 8.2), thresholds taken from each model's config.

Severities are the seed's escalation levels (E.1.1 ``escalation_matrix``): ``critical`` (service lost),
``high`` (users notice), ``medium`` (early warning: predictive, anomaly, pressure) and ``low`` (capacity
planning). :mod:`citadel.ops.render.alertmanager` routes them. Annotations use only labels, never
``$value``, so that the text is stable and testable; the numbers are on the dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from citadel.config import CitadelSettings, LocalModelSettings
from citadel.ops.render.assets import local_models
from citadel.ops.render.recording_rules import CPU_CORES, ERROR_RATIO, REQUEST_RATE, latency_quantile
from citadel.ops.render.scrape import GATEWAY_JOB, MODELS_JOB

# Why these numbers: the share of failed requests users start to notice, the share of the queue limit at which
# new requests are about to be refused, the KV-cache use at which vLLM starts preempting sequences, and the
# seed's capacity-planning limits (E.1.3: CPU 80 %, memory 85 %, load 80 % of capacity).
ERROR_RATIO_LIMIT = 0.05
QUEUE_SHARE_LIMIT = 0.8
KV_CACHE_LIMIT = 0.9
LOAD_SHARE_LIMIT = 0.8
MEMORY_SOON_SHARE = 0.9
CPU_PLANNING_SHARE = 0.8
MEMORY_PLANNING_SHARE = 0.85
ANOMALY_WINDOW = "7d"


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    category: str
    summary: str
    description: str
    model: str | None = None  # a per-model rule names its model, so rules of several models stay distinct

    def rule(self) -> dict[str, Any]:
        labels = {"severity": self.severity, "category": self.category}
        if self.model is not None:
            labels["model"] = self.model
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": labels,
            "annotations": {"summary": self.summary, "description": self.description},
        }


def _availability() -> list[Alert]:
    return [
        Alert(
            "CitadelGatewayDown",
            f'up{{job="{GATEWAY_JOB}"}} == 0',
            "1m",
            "critical",
            "availability",
            "The Citadel gateway on {{ $labels.instance }} is down",
            "Prometheus cannot scrape the gateway: no model is reachable. "
            "Check `systemctl status citadel-llm-gateway` and `citadel doctor`.",
        ),
        Alert(
            "CitadelModelServiceDown",
            f'up{{job="{MODELS_JOB}"}} == 0',
            "1m",
            "critical",
            "availability",
            "Model service {{ $labels.model }} is down",
            "Prometheus cannot scrape {{ $labels.instance }}. "
            "Check `systemctl status citadel-llm@{{ $labels.model }}` and its journal.",
        ),
        Alert(
            "CitadelModelUnhealthy",
            "llm_model_health == 0",
            "2m",
            "critical",
            "availability",
            "The gateway sees model {{ $labels.model }} as unhealthy",
            "Requests for {{ $labels.model }} get 503 while no replica passes the gateway's health probe.",
        ),
        Alert(
            "CitadelHighErrorRate",
            f"{ERROR_RATIO} > {ERROR_RATIO_LIMIT}",
            "5m",
            "high",
            "errors",
            "More than 5 % of requests to {{ $labels.model }} fail",
            "The gateway's error ratio for {{ $labels.model }} has been over 5 % for 5 minutes.",
        ),
        Alert(
            "CitadelKVCachePressure",
            f'vllm:kv_cache_usage_perc{{job="{MODELS_JOB}"}} > {KV_CACHE_LIMIT}',
            "5m",
            "medium",
            "saturation",
            "KV cache of {{ $labels.model }} is over 90 % full",
            "Sequences will be preempted or queued; lower max_num_seqs or add a replica.",
        ),
        Alert(
            "CitadelLatencyAnomaly",
            f"{latency_quantile('p95')} > avg_over_time({latency_quantile('p95')}[{ANOMALY_WINDOW}])"
            f" + 3 * stddev_over_time({latency_quantile('p95')}[{ANOMALY_WINDOW}])",
            "10m",
            "medium",
            "anomaly_detection",
            "p95 latency of {{ $labels.model }} is anomalous",
            "p95 latency is more than 3 standard deviations above its mean of the last 7 days.",
        ),
    ]


def _per_model(model: LocalModelSettings) -> list[Alert]:
    """Alerts whose thresholds are this model's config: targets, queue limit, memory limit, CPU quota."""
    name = model.name
    target_s = model.targets.p95_latency_ms / 1000
    capacity_rps = model.targets.throughput_rpm / 60
    queue_limit = QUEUE_SHARE_LIMIT * model.limits.max_waiting
    memory = model.memory_limit_bytes
    service = f'job="{MODELS_JOB}", model="{name}"'
    alerts = [
        Alert(
            "CitadelLatencyAboveTarget",
            f'{latency_quantile("p95")}{{model="{name}"}} > {target_s:g}',
            "5m",
            "high",
            "performance",
            f"p95 latency of {name} is above its {target_s:g} s target",
            f"targets.p95_latency_ms of {name} is {model.targets.p95_latency_ms} ms.",
        ),
        Alert(
            "CitadelQueueSaturated",
            f"vllm:num_requests_waiting{{{service}}} > {queue_limit:g}",
            "2m",
            "high",
            "saturation",
            f"The queue of {name} is over 80 % of its limit",
            f"More than {queue_limit:g} requests wait (limits.max_waiting is {model.limits.max_waiting}); "
            "beyond the limit they get 503.",
        ),
        Alert(
            "CitadelPredictedHighLoad",
            f'predict_linear({REQUEST_RATE}{{model="{name}"}}[30m], 1800)'
            f" > {LOAD_SHARE_LIMIT * capacity_rps:g}",
            "5m",
            "medium",
            "capacity_planning",
            f"{name} is predicted to pass 80 % of its capacity within 30 minutes",
            "The request-rate trend crosses 80 % of targets.throughput_rpm "
            f"({model.targets.throughput_rpm}/min).",
        ),
        Alert(
            "CitadelPredictedMemoryExhaustion",
            f"predict_linear(process_resident_memory_bytes{{{service}}}[30m], 1800)"
            f" > {MEMORY_SOON_SHARE * memory:.0f}",
            "5m",
            "high",
            "capacity_planning",
            f"{name} is predicted to reach 90 % of its memory limit within 30 minutes",
            f"systemd stops the service at MemoryMax={model.memory_limit}.",
        ),
        Alert(
            "CitadelCapacityPlanningCPU",
            f'predict_linear({CPU_CORES}{{model="{name}"}}[1h], 86400)'
            f" > {CPU_PLANNING_SHARE * model.cpu_quota / 100:g}",
            "10m",
            "low",
            "capacity_planning",
            f"{name} is projected to use over 80 % of its CPU quota within 24 hours",
            f"cpu_quota of {name} is {model.cpu_quota} % (CPUQuota).",
        ),
        Alert(
            "CitadelCapacityPlanningMemory",
            f"predict_linear(process_resident_memory_bytes{{{service}}}[1h], 86400)"
            f" > {MEMORY_PLANNING_SHARE * memory:.0f}",
            "10m",
            "low",
            "capacity_planning",
            f"{name} is projected to use over 85 % of its memory limit within 24 hours",
            f"memory_limit of {name} is {model.memory_limit} (MemoryMax).",
        ),
    ]
    return [replace(alert, model=name) for alert in alerts]


def alert_groups(settings: CitadelSettings) -> list[dict[str, Any]]:
    """The rule groups of ``citadel-alerts.yml``: shared alerts, then one group per local model."""
    groups = [{"name": "citadel-service", "rules": [alert.rule() for alert in _availability()]}]
    groups += [
        {"name": f"citadel-model-{model.name}", "rules": [alert.rule() for alert in _per_model(model)]}
        for model in local_models(settings)
    ]
    from citadel.ops.render.business_rules import business_alert_groups  # it builds on this module's Alert

    return groups + business_alert_groups(settings)
