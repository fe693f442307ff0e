"""Which processes a config asks for: one per model service on this machine, plus the gateway."""

from __future__ import annotations

import sys
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import local_services
from citadel.supervisor.process import ServiceSpec

GATEWAY_STARTUP_TIMEOUT_S = 60.0


def _citadel(*args: str) -> list[str]:
    return [sys.executable, "-m", "citadel", *args]


def model_specs(settings: CitadelSettings, config_path: Path) -> list[ServiceSpec]:
    """Every model service on this machine (local models and their local replicas), each as
    ``citadel serve-model NAME`` (``NAME`` being ``MODEL`` or ``MODEL:PORT``)."""
    config = str(config_path.resolve())
    return [
        ServiceSpec(
            name=service.name,
            argv=_citadel("serve-model", service.name, "--config", config),
            health_url=f"{service.base_url}/health",
            startup_timeout_s=service.model.startup_timeout_s,
        )
        for service in local_services(settings)
    ]


def gateway_spec(settings: CitadelSettings, config_path: Path) -> ServiceSpec:
    gateway = settings.gateway
    return ServiceSpec(
        name="gateway",
        argv=_citadel("gateway", "--config", str(config_path.resolve())),
        health_url=f"http://{reachable_host(gateway.host)}:{gateway.port}/health",
        startup_timeout_s=GATEWAY_STARTUP_TIMEOUT_S,
        # The gateway is up once it answers; 503 only says that no model is healthy yet.
        ready_statuses=frozenset({200, 503}),
    )
