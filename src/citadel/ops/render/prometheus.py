"""``citadel render prometheus``: scrape config, recording and alert rules, and an Alertmanager example."""

from __future__ import annotations

from typing import Any

import yaml

from citadel.config import CitadelSettings
from citadel.ops.render.alert_rules import alert_groups
from citadel.ops.render.alertmanager import alertmanager_config
from citadel.ops.render.assets import RenderedFiles
from citadel.ops.render.recording_rules import recording_groups
from citadel.ops.render.scrape import RULE_FILES, scrape_config

DEFAULT_ALERTMANAGER = "127.0.0.1:9093"


class _PlainDumper(yaml.SafeDumper):
    """Writes a repeated value out again, not as a YAML alias (``&id001``): easier for people to read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(document: dict[str, Any], header: str) -> str:
    body = yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, width=1000, allow_unicode=True)
    return f"# {header}\n# Rendered by `citadel render prometheus`. Do not edit: re-render instead.\n{body}"


def render_prometheus(settings: CitadelSettings, alertmanager: str = DEFAULT_ALERTMANAGER) -> RenderedFiles:
    """``prometheus.yml``, the recording and alert rules under ``rules/``, and ``alertmanager.yml``.

    >>> files = render_prometheus(settings)  # doctest: +SKIP
    >>> list(files)[0]
    'prometheus.yml'
    """
    recording, alerts = RULE_FILES
    return {
        "prometheus.yml": _yaml(
            scrape_config(settings, alertmanager), "Scrape the gateway and model services"
        ),
        recording: _yaml({"groups": recording_groups()}, "Per-model rates and latency quantiles"),
        alerts: _yaml({"groups": alert_groups(settings)}, "Alerts; thresholds from each model's config"),
        "alertmanager.yml": _yaml(alertmanager_config(), "Example routing by the seed's severities"),
    }
