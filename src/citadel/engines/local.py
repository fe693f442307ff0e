"""The model services this machine runs: each local model at its own port, plus its further local replicas.

A model's ``replicas`` may list more model services on this machine (``{port: 11410}``, host loopback or the
model's own). Each is a service of its own, named ``<model>:<port>`` (``phi-3-mini:11410``), which is the
name ``citadel serve-model``, ``citadel check``, the supervisor and the systemd instances all use; the
service at the model's own port is named after the model alone.

>>> [service.name for service in local_services(settings)]  # doctest: +SKIP
['phi-3-mini', 'phi-3-mini:11410', 'embeddings']
"""

from __future__ import annotations

from dataclasses import dataclass

from citadel.config import CitadelSettings, LocalModelSettings, ModelSettings
from citadel.config.sections import reachable_host
from citadel.engines import get_engine

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class LocalService:
    """One model service on this machine: ``model`` served at ``port``."""

    model: LocalModelSettings
    port: int

    @property
    def name(self) -> str:
        return self.model.name if self.port == self.model.port else f"{self.model.name}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{reachable_host(self.model.host)}:{self.port}"

    @property
    def settings(self) -> LocalModelSettings:
        """The model's settings with this service's port (what the engine binds to)."""
        if self.port == self.model.port:
            return self.model
        return self.model.model_copy(update={"port": self.port})


def model_services(model: ModelSettings) -> list[LocalService]:
    """``model``'s services on this machine: none for a remote backend or a model placed on Ray (Ray Serve
    runs its replicas), else its own port and the ports of its replicas on this machine."""
    if not get_engine(model.backend).runs_locally or not isinstance(model, LocalModelSettings):
        return []
    if model.ray is not None:
        return []
    ports = [model.port]
    for replica in model.replicas:
        local = replica.host in _LOOPBACK or replica.host == model.host
        if replica.port is not None and local and replica.port not in ports:
            ports.append(replica.port)
    return [LocalService(model, port) for port in ports]


def local_services(settings: CitadelSettings) -> list[LocalService]:
    """Every model service this machine runs, in config order."""
    return [service for model in settings.models for service in model_services(model)]


def find_service(settings: CitadelSettings, name: str) -> LocalService:
    """The service called ``name`` (``<model>`` or ``<model>:<port>``); ``KeyError`` with the choices."""
    services = {service.name: service for service in local_services(settings)}
    if name in services:
        return services[name]
    choices = ", ".join(services) or "none"
    raise KeyError(f"no model service {name!r} runs on this machine (services: {choices})")
