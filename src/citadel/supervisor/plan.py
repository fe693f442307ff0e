"""Which processes a config asks for: one per model service on this machine, plus the gateway."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import LocalService, local_services
from citadel.supervisor.process import ServiceSpec, StartupFailed

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
    budget = threads or {}
    oversubscribed = cores is not None and sum(budget.values()) > cores
    return [
        service_spec(service, config_path, threads=budget.get(service.name), oversubscribed=oversubscribed)
        for service in local_services(settings)
    ]


def service_spec(
    service: LocalService,
    config_path: Path,
    *,
    threads: int | None = None,
    oversubscribed: bool = False,
    port: int | None = None,
) -> ServiceSpec:
    """``citadel serve-model`` for one service; with ``port``, listening there instead of at its own port
    (a rolling replacement)."""
    argv = _citadel("serve-model", service.name, "--config", str(config_path.resolve()))
    env: dict[str, str] = {}
    if threads is not None:
        argv += ["--threads", str(threads)]
        env = thread_env(threads, oversubscribed=oversubscribed)
    base_url = service.base_url
    if port is not None and port != service.port:
        argv += ["--port", str(port)]
        base_url = f"http://{reachable_host(service.model.host)}:{port}"
    return ServiceSpec(
        name=service.name,
        argv=argv,
        health_url=f"{base_url}/health",
        startup_timeout_s=service.model.startup_timeout_s,
        env=env,
    )


def reload_spec_factory(config_path: Path) -> Callable[[CitadelSettings, LocalService, int], ServiceSpec]:
    """How a reload starts a model service of the new config at a port: its thread budget in that config.
    :class:`StartupFailed` if the new config's services do not fit the cores."""
    from citadel.cpu_features import usable_cores
    from citadel.supervisor.cores import CoreBudgetError, plan_threads

    def spec_for(settings: CitadelSettings, service: LocalService, port: int) -> ServiceSpec:
        cores = usable_cores()
        try:
            threads = plan_threads(settings, cores)
        except CoreBudgetError as exc:
            raise StartupFailed(str(exc)) from exc
        return service_spec(
            service,
            config_path,
            threads=threads.get(service.name),
            oversubscribed=sum(threads.values()) > cores,
            port=port,
        )

    return spec_for


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
