"""The blueprint's own alert rules (E.1.3) under its names, on the events consumers' business metrics.

``llm_predicted_load_30m``, ``llm_anomaly_score``, ``llm_business_value_score`` come from ``citadel events
consume`` (metrics-aggregator); ``llm_model_memory_usage_bytes`` is recorded here from the model services'
resident memory. The thresholds are the blueprint's (80 % of capacity, 3 sigma, 10 % errors with half the
value threshold, CPU 80 %, memory 85 %), with each model's capacity, CPU quota and memory limit from its
config. The blueprint's ``warning`` / ``info`` severities are this codebase's ``medium`` / ``low``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from citadel.config import CitadelSettings, LocalModelSettings
from citadel.ops.render.alert_rules import Alert
from citadel.ops.render.assets import local_models
from citadel.ops.render.recording_rules import CPU_CORES, ERROR_RATIO
from citadel.ops.render.scrape import MODELS_JOB

MEMORY_USAGE = "llm_model_memory_usage_bytes"
LOAD_SHARE = 0.8
ANOMALY_SCORE_LIMIT = 0.5  # z / (z + anomaly_z) is 0.5 exactly at anomaly_z sigma
BUSINESS_ERROR_RATIO = 0.1
CPU_SHARE = 0.8
MEMORY_SHARE = 0.85


def business_recording_rules() -> list[dict[str, Any]]:
    return [
        {
            "record": MEMORY_USAGE,
            "expr": f'sum by (model) (process_resident_memory_bytes{{job="{MODELS_JOB}"}})',
        }
    ]


def _shared(settings: CitadelSettings) -> list[Alert]:
    threshold = settings.events.consumers.business_value_threshold
    return [
        Alert(
            "LLM_Anomaly_Response_Time",
            f"llm_anomaly_score >= {ANOMALY_SCORE_LIMIT}",
            "2m",
            "medium",
            "anomaly_detection",
            "Anomalous response time detected",
            "{{ $labels.model }} response time is 3 standard deviations above normal "
            "(events.consumers.anomaly_z over the last 7 days of 5-minute buckets).",
        ),
        Alert(
            "LLM_Business_Impact_Critical",
            f"({ERROR_RATIO} > {BUSINESS_ERROR_RATIO})"
            f" and on (model) (llm_business_value_score < {threshold * 0.5:g})",
            "1m",
            "critical",
            "business_impact",
            "Critical business impact detected",
            "High error rate of {{ $labels.model }} combined with low business value generation.",
        ),
    ]


def _per_model(model: LocalModelSettings) -> list[Alert]:
    name = model.name
    rpm = model.targets.throughput_rpm
    alerts = [
        Alert(
            "LLM_Predictive_High_Load",
            f'llm_predicted_load_30m{{model="{name}"}} > {LOAD_SHARE * rpm:g}',
            "5m",
            "medium",
            "capacity_planning",
            "Predicted high load in next 30 minutes",
            f"Model {{{{ $labels.model }}}} is predicted to exceed 80% capacity ({rpm} requests/min).",
        ),
        Alert(
            "LLM_Capacity_Planning_CPU",
            f'predict_linear({CPU_CORES}{{model="{name}"}}[1h], 86400)'
            f" > {CPU_SHARE * model.cpu_quota / 100:g}",
            "10m",
            "low",
            "capacity_planning",
            "CPU capacity planning alert",
            f"Projected CPU usage of {name} will exceed 80% of its quota ({model.cpu_quota} %) in 24 hours.",
        ),
        Alert(
            "LLM_Capacity_Planning_Memory",
            f'predict_linear({MEMORY_USAGE}{{model="{name}"}}[1h], 86400)'
            f" > {MEMORY_SHARE * model.memory_limit_bytes:.0f}",
            "10m",
            "low",
            "capacity_planning",
            "Memory capacity planning alert",
            f"Projected memory usage of {name} will exceed 85% of {model.memory_limit} within 24 hours.",
        ),
    ]
    return [replace(alert, model=name) for alert in alerts]


def business_alert_groups(settings: CitadelSettings) -> list[dict[str, Any]]:
    """The blueprint's groups: ``llm_predictive_alerts`` and ``llm_capacity_planning``."""
    models = local_models(settings)
    predictive = _shared(settings) + [
        a for m in models for a in _per_model(m) if a.name == "LLM_Predictive_High_Load"
    ]
    planning = [a for m in models for a in _per_model(m) if a.name != "LLM_Predictive_High_Load"]
    return [
        {"name": "llm_predictive_alerts", "rules": [alert.rule() for alert in predictive]},
        {"name": "llm_capacity_planning", "rules": [alert.rule() for alert in planning]},
    ]
