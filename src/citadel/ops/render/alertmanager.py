"""An example Alertmanager config with the seed's severity routing (E.1.1 ``escalation_matrix``).

critical -> pager (SMS / phone) and chat; high -> e-mail and chat; medium -> e-mail; low -> the dashboard
only (no notification). Receivers point at this machine as placeholders: replace the webhook URLs, the
SMTP relay and the addresses with your own before use.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# Receivers by severity, in the order the seed lists them.
SEVERITY_RECEIVERS = MappingProxyType(
    {"critical": "pager-and-chat", "high": "email-and-chat", "medium": "email", "low": "dashboard"}
)


def _webhook(path: str) -> dict[str, Any]:
    return {"url": f"http://127.0.0.1:9094/{path}", "send_resolved": True}


def _email() -> dict[str, Any]:
    return {"to": "llm-oncall@example.com", "send_resolved": True}


def alertmanager_config() -> dict[str, Any]:
    """``alertmanager.yml``; passes ``amtool check-config``."""
    return {
        "global": {
            "smtp_smarthost": "127.0.0.1:25",
            "smtp_from": "citadel-alerts@example.com",
            "smtp_require_tls": False,
            "resolve_timeout": "5m",
        },
        "route": {
            "receiver": SEVERITY_RECEIVERS["low"],
            "group_by": ["alertname", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": receiver,
                    "matchers": [f'severity="{severity}"'],
                    # Critical alerts page again sooner if nobody acts.
                    **({"repeat_interval": "30m", "group_wait": "10s"} if severity == "critical" else {}),
                }
                for severity, receiver in SEVERITY_RECEIVERS.items()
            ],
        },
        # A model service that is down makes the gateway see it unhealthy and its errors rise: page once.
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="CitadelModelServiceDown"'],
                "target_matchers": ['alertname=~"CitadelModelUnhealthy|CitadelHighErrorRate"'],
                "equal": ["model"],
            },
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"high|medium"'],
                "equal": ["model"],
            },
        ],
        "receivers": [
            {"name": "pager-and-chat", "webhook_configs": [_webhook("pager"), _webhook("chat")]},
            {"name": "email-and-chat", "email_configs": [_email()], "webhook_configs": [_webhook("chat")]},
            {"name": "email", "email_configs": [_email()]},
            {"name": "dashboard"},
        ],
    }
