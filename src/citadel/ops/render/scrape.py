"""Prometheus scrape configuration for the gateway and every model service (seed D.1.3, B.2.3)."""

from __future__ import annotations

from typing import Any

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import local_services

GATEWAY_JOB = "citadel-gateway"
MODELS_JOB = "citadel-models"
EVENTS_JOB = "citadel-events"
RULE_FILES = ("rules/citadel-recording.yml", "rules/citadel-alerts.yml")


def scrape_config(settings: CitadelSettings, alertmanager: str) -> dict[str, Any]:
    """``prometheus.yml``: each model service (a model's replicas each) is its own target, labelled with its
    model and backend.

    The ``model`` target label lets alerts and dashboards join model-service series (which vLLM labels
    ``model_name``) with the gateway's (labelled ``model``).
    """
    interval = f"{settings.metrics.scrape_interval_s}s"
    gateway = settings.gateway
    model_targets = [
        {
            "targets": [f"{reachable_host(service.model.host)}:{service.port}"],
            "labels": {"model": service.model.name, "backend": service.model.backend},
        }
        for service in local_services(settings)
    ]
    jobs: list[dict[str, Any]] = [
        {
            "job_name": GATEWAY_JOB,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"{reachable_host(gateway.host)}:{gateway.port}"]}],
        },
        {"job_name": MODELS_JOB, "metrics_path": "/metrics", "static_configs": model_targets},
    ]
    consumers = settings.events.consumers
    if settings.events.sink == "kafka" and consumers.metrics_port:  # the business metrics and the lag
        target = f"{reachable_host(consumers.metrics_host)}:{consumers.metrics_port}"
        jobs.append(
            {"job_name": EVENTS_JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        )
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "rule_files": list(RULE_FILES),
        "scrape_configs": jobs,
    }
