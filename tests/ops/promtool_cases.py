"""Building ``promtool test rules`` files: input series and the alerts expected from the rendered rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

Labels = dict[str, str]


def series(name: str, labels: Labels, values: str) -> dict[str, str]:
    """One input series in promtool's notation, e.g. ``values="0+10x30"``."""
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def load_rules(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _expand(template: str, labels: Labels) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match.group(1)], template)


def expected_alert(rules: list[dict[str, Any]], name: str, labels: Labels) -> dict[str, Labels]:
    """The alert ``name`` fired for a series with ``labels``: its labels and expanded annotations."""
    [rule] = [
        rule
        for rule in rules
        if rule.get("alert") == name
        and rule["labels"].get("model", labels.get("model")) == labels.get("model")
    ]
    exp_labels = {**labels, **rule["labels"]}
    annotations = {key: _expand(text, exp_labels) for key, text in rule["annotations"].items()}
    return {"exp_labels": exp_labels, "exp_annotations": annotations}


def alert_case(
    alert: str,
    input_series: list[dict[str, str]],
    eval_time: str,
    firing: list[dict[str, Labels]],
    interval: str = "1m",
) -> dict[str, Any]:
    """One promtool test: ``alert`` at ``eval_time`` fires exactly ``firing`` (empty: it does not fire)."""
    return {
        "name": f"{alert} {'fires' if firing else 'stays quiet'}",
        "interval": interval,
        "input_series": input_series,
        "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": firing}],
    }


def write_test_file(
    path: Path, rule_files: list[Path], tests: list[dict[str, Any]], evaluation_interval: str
) -> Path:
    document = {
        "rule_files": [str(rule_file) for rule_file in rule_files],
        "evaluation_interval": evaluation_interval,
        "tests": tests,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100000), encoding="utf-8")
    return path
