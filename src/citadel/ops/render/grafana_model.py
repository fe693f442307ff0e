"""A small typed model of a Grafana dashboard (schema 39) and its JSON: panels of PromQL targets on a grid.

Every panel reads the dashboard's ``datasource`` variable, so the JSON imports into any Grafana with a
Prometheus data source; ``$model`` filters the per-model panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SCHEMA_VERSION = 39
GRID_WIDTH = 24
DATASOURCE = MappingProxyType({"type": "prometheus", "uid": "${datasource}"})


@dataclass(frozen=True, slots=True)
class Target:
    """One PromQL query of a panel, with the legend Grafana shows for each series."""

    expr: str
    legend: str = ""


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"  # timeseries, stat or table
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8
    value_text: dict[str, str] = field(default_factory=dict)  # value -> text, e.g. {"1": "up"}


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.value_text:
        options = {
            value: {"text": text, "index": index}
            for index, (value, text) in enumerate(panel.value_text.items())
        }
        defaults["mappings"] = [{"type": "value", "options": options}]
    return {"defaults": defaults, "overrides": []}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": _field_config(panel),
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": dict(DATASOURCE),
                "expr": target.expr,
                "legendFormat": target.legend,
                "range": panel.kind != "table",
                "instant": panel.kind == "table",
            }
            for index, target in enumerate(panel.targets)
        ],
    }


def _layout(panels: list[Panel]) -> list[dict[str, Any]]:
    """Left to right, wrapping to a new row when the next panel does not fit the 24-column grid."""
    laid_out = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel_json(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return laid_out


def _model_variable(source_metric: str) -> dict[str, Any]:
    query = f"label_values({source_metric}, model)"
    return {
        "name": "model",
        "label": "Model",
        "type": "query",
        "datasource": dict(DATASOURCE),
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": ["All"], "value": ["$__all"]},
    }


def dashboard_json(
    uid: str, title: str, panels: list[Panel], *, tags: list[str], refresh: str
) -> dict[str, Any]:
    """The dashboard document Grafana imports (or loads from a provisioning folder)."""
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                _model_variable("llm_requests_total"),
            ]
        },
        "panels": _layout(panels),
    }
