"""The "Citadel LLM Server - Business Intelligence" dashboard (seed E.1.2 ``llm_business_dashboard``) and the
business-value / predictive-alert panels of the operations dashboard.

The quality and value series come from ``citadel events consume`` (metrics-aggregator: the last hour of
feedback and requests); adoption from the gateway's ``llm_requests_total``.
"""

from __future__ import annotations

from typing import Any

from citadel.ops.render.business_rules import MEMORY_USAGE
from citadel.ops.render.grafana_model import Panel, Target, dashboard_json

MODEL = 'model=~"$model"'


def _by_model(metric: str) -> str:
    return f"max by (model) ({metric}{{{MODEL}}})"


def _hourly(per_request: str) -> str:
    """Requests of the last hour times a per-request gauge: the hour's total of it."""
    return (
        f"sum by (model) (increase(llm_requests_total{{{MODEL}}}[1h])) * on (model) {_by_model(per_request)}"
    )


def overview_panels() -> list[Panel]:
    """The operations dashboard's "Business Value Metrics" and "Predictive Alerts Status" (seed E.1.2)."""
    return [
        Panel(
            "Business value metrics",
            (
                Target(_hourly("llm_business_value_score"), "{{model}} - business value / hour"),
                Target(_by_model("llm_user_satisfaction_score"), "{{model}} - user satisfaction"),
            ),
        ),
        Panel(
            "Predictive alerts status",
            (Target('ALERTS{alertname=~"LLM_Predictive_.*"}', "{{alertname}} {{model}} {{alertstate}}"),),
            kind="table",
        ),
    ]


def business_dashboard() -> dict[str, Any]:
    panels = [
        Panel(
            "ROI analysis (business value / cost)",
            (
                Target(
                    f"{_by_model('llm_business_value_score')} / {_by_model('llm_cost_per_request_dollars')}",
                    "{{model}} - ROI ratio",
                ),
            ),
            width=12,
        ),
        Panel(
            "User adoption trends",
            (
                Target(
                    f"sum by (model) (increase(llm_requests_total{{{MODEL}}}[24h]))",
                    "{{model}} - daily requests",
                ),
            ),
            width=12,
        ),
        Panel(
            "Quality metrics",
            (
                Target(_by_model("llm_model_accuracy_score"), "{{model}} - model accuracy"),
                Target(_by_model("llm_user_satisfaction_score"), "{{model}} - user satisfaction (1-5)"),
            ),
            width=12,
        ),
        Panel(
            "Cost efficiency",
            (
                Target(_by_model("llm_cost_per_request_dollars"), "{{model}} - cost per request"),
                Target(_hourly("llm_cost_per_request_dollars"), "{{model}} - hourly cost"),
            ),
            kind="table",
            width=12,
        ),
        Panel(
            "Predicted load in 30 minutes",
            (Target(_by_model("llm_predicted_load_30m"), "{{model}} - requests / min"),),
            width=8,
        ),
        Panel(
            "Anomaly score",
            (Target(_by_model("llm_anomaly_score"), "{{model}}"),),
            width=8,
            unit="percentunit",
        ),
        Panel(
            "Model memory",
            (Target(f"{MEMORY_USAGE}{{{MODEL}}}", "{{model}}"),),
            width=8,
            unit="bytes",
        ),
        Panel(
            "Events consumer lag",
            (
                Target(
                    'sum by (group, topic) (citadel_events_consumer_lag{group=~".+"})', "{{group}} {{topic}}"
                ),
            ),
            width=24,
        ),
    ]
    return dashboard_json(
        "citadel-business",
        "Citadel LLM Server - Business Intelligence",
        panels,
        tags=["citadel", "llm", "business"],
        refresh="5m",
    )
