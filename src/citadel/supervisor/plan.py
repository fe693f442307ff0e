"""Which processes a config asks for: one per locally served model, plus the gateway."""

from __future__ import annotations

import sys
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.engines import get_engine
from citadel.supervisor.process import ServiceSpec

GATEWAY_STARTUP_TIMEOUT_S = 60.0


def _citadel(*args: str) -> list[str]:
    return [sys.executable, "-m", "citadel", *args]


def model_specs(settings: CitadelSettings, config_path: Path) -> list[ServiceSpec]:
    """Every model whose backend runs on this machine, each as ``citadel serve-model NAME``."""
    config = str(config_path.resolve())
    return [
        ServiceSpec(
            name=model.name,
            argv=_citadel("serve-model", model.name, "--config", config),
            health_url=f"{model.base_url}/health",
            startup_timeout_s=model.startup_timeout_s,
        )
        for model in settings.models
        if get_engine(model.backend).runs_locally
    ]


def gateway_spec(settings: CitadelSettings, config_path: Path) -> ServiceSpec:
    gateway = settings.gateway
    host = "127.0.0.1" if gateway.host in ("0.0.0.0", "::") else gateway.host
    return ServiceSpec(
        name="gateway",
        argv=_citadel("gateway", "--config", str(config_path.resolve())),
        health_url=f"http://{host}:{gateway.port}/health",
        startup_timeout_s=GATEWAY_STARTUP_TIMEOUT_S,
        # The gateway is up once it answers; 503 only says that no model is healthy yet.
        ready_statuses=frozenset({200, 503}),
    )
