"""``citadel render grafana``: the dashboards as JSON plus Grafana provisioning files for them."""

from __future__ import annotations

import json
from typing import Any

import yaml

from citadel.config import CitadelSettings
from citadel.ops.render.assets import RenderedFiles
from citadel.ops.render.business_dashboard import business_dashboard
from citadel.ops.render.dashboards import operations_dashboard, usage_dashboard

DASHBOARD_DIR = "/var/lib/grafana/dashboards/citadel"


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _provisioning(settings: CitadelSettings) -> dict[str, str]:
    datasource = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Citadel Prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": settings.metrics.prometheus_url,
            }
        ],
    }
    dashboards = {
        "apiVersion": 1,
        "providers": [
            {"name": "citadel", "folder": "Citadel", "type": "file", "options": {"path": DASHBOARD_DIR}}
        ],
    }
    return {
        "provisioning/datasources/citadel.yaml": yaml.safe_dump(datasource, sort_keys=False),
        "provisioning/dashboards/citadel.yaml": yaml.safe_dump(dashboards, sort_keys=False),
    }


def render_grafana(settings: CitadelSettings) -> RenderedFiles:
    """``dashboards/*.json`` (copy them to the provider's path) and ``provisioning/`` for Grafana.

    >>> files = render_grafana(settings)  # doctest: +SKIP
    >>> sorted(files)[0]
    'dashboards/citadel-operations.json'
    """
    return {
        "dashboards/citadel-operations.json": _json(operations_dashboard(settings)),
        "dashboards/citadel-usage.json": _json(usage_dashboard()),
        "dashboards/citadel-business.json": _json(business_dashboard()),
        **_provisioning(settings),
    }
