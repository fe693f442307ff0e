"""Which processes a config asks for: one per model service on this machine, plus the gateway."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import local_services
from citadel.supervisor.process import ServiceSpec

GATEWAY_STARTUP_TIMEOUT_S = 60.0


def _citadel(*args: str) -> list[str]:
    return [sys.executable, "-m", "citadel", *args]


def thread_env(threads: int, *, oversubscribed: bool) -> dict[str, str]:
    """OpenMP settings for a service with ``threads`` engine threads (llama.cpp and torch both run on
    OpenMP): that many threads and, only when the services together have more threads than cores, waits that
    sleep instead of spinning. Within the budget, spinning at each barrier keeps a decode step fast (passive
    waits cut one SmolLM2 stream from 139 to 41 tokens/s); beyond it, a spinning thread takes the core that
    another service's thread needs. A variable the operator set already is kept."""
    wanted = {"OMP_NUM_THREADS": str(threads)}
    if oversubscribed:
        wanted["OMP_WAIT_POLICY"] = "PASSIVE"
    return {key: value for key, value in wanted.items() if key not in os.environ}


def model_specs(
    settings: CitadelSettings,
    config_path: Path,
    threads: dict[str, int] | None = None,
    *,
    cores: int | None = None,
) -> list[ServiceSpec]:
    """Every model service on this machine (local models and their local replicas), each as
    ``citadel serve-model NAME`` (``NAME`` being ``MODEL`` or ``MODEL:PORT``), with ``--threads N`` for
    the services ``threads`` (the core budget, see :mod:`citadel.supervisor.cores`) names, out of
    ``cores``."""
    config = str(config_path.resolve())
    budget = threads or {}
    oversubscribed = cores is not None and sum(budget.values()) > cores
    specs = []
    for service in local_services(settings):
        argv = _citadel("serve-model", service.name, "--config", config)
        env: dict[str, str] = {}
        if service.name in budget:
            argv += ["--threads", str(budget[service.name])]
            env = thread_env(budget[service.name], oversubscribed=oversubscribed)
        specs.append(
            ServiceSpec(
                name=service.name,
                argv=argv,
                health_url=f"{service.base_url}/health",
                startup_timeout_s=service.model.startup_timeout_s,
                env=env,
            )
        )
    return specs


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
