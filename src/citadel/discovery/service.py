"""The model service's side of discovery: its entry, built from its settings."""

from __future__ import annotations

from citadel import __version__
from citadel.config import LocalModel
from citadel.config.base import reachable_host
from citadel.config.scaling import DiscoverySettings
from citadel.discovery.registration import Registration


def service_registration(discovery: DiscoverySettings, model: LocalModel, capacity: int) -> Registration:
    """Where gateways on other hosts reach this service: ``discovery.advertise_host`` (else the bind host;
    loopback for a wildcard bind, which only gateways on this host can use) and the service's port."""
    host = discovery.advertise_host or reachable_host(model.host)
    return Registration(
        model=model.name, url=f"http://{host}:{model.port}", capacity=capacity, version=__version__
    )
