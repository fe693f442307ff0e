"""Running beyond one host: the load balancer in front of several gateways, and service discovery.

``load_balancer`` is read by ``citadel render haproxy|nginx``; ``discovery`` by every model service (it
registers itself) and every gateway (it watches the registrations).

>>> LoadBalancerSettings(gateways=[{"host": "10.0.0.5", "port": 8000}]).gateways[0].address
'10.0.0.5:8000'
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from citadel.config.base import Section


class GatewayInstance(Section):
    """One gateway process the load balancer sends traffic to."""

    host: str
    port: int = Field(default=8000, ge=1, le=65535)
    name: str | None = Field(default=None, description="Its name in the balancer; default gw1, gw2, ...")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class LoadBalancerSettings(Section):
    """HAProxy or nginx in front of the gateways (seed C.3 ``horizontal_scaling.load_balancer``)."""

    host: str = Field(default="0.0.0.0", description="Where the balancer listens for clients.")
    port: int = Field(default=8880, ge=1, le=65535)
    stats_host: str = "127.0.0.1"
    stats_port: int = Field(default=8404, ge=1, le=65535, description="Stats page and /metrics.")
    gateways: list[GatewayInstance] = Field(
        default_factory=list, description="The gateway instances; none means this config's gateway alone."
    )
    check_interval_s: float = Field(default=2.0, gt=0, description="Between /health checks of a gateway.")
    fall: int = Field(default=2, ge=1, description="Failed checks that take a gateway out.")
    rise: int = Field(default=2, ge=1, description="Good checks that bring it back.")
    connect_timeout_s: float = Field(default=3.0, gt=0)
    retries: int = Field(default=3, ge=0, description="Further attempts on another gateway (idempotent).")
    max_connections: int = Field(default=4096, ge=1, description="Client connections in all.")


class DiscoverySettings(Section):
    """Model services register in etcd under a lease; gateways watch the prefix (seed C.3
    ``service_discovery``). ``backend: none`` (default): only the configured replicas exist."""

    backend: Literal["none", "etcd"] = "none"
    endpoints: list[str] = Field(
        default_factory=list, description="etcd client URLs, e.g. http://10.0.0.2:2379 (tried in order)."
    )
    prefix: str = Field(default="/citadel/replicas/", description="Key prefix of the registrations.")
    lease_ttl_s: int = Field(
        default=10, ge=2, le=3600, description="A registration of a service that died vanishes after this."
    )
    advertise_host: str | None = Field(
        default=None,
        description="The host other machines reach this host's model services on; default: their bind "
        "host (loopback for a wildcard bind).",
    )
    retry_interval_s: float = Field(default=1.0, gt=0, description="Between attempts to reach etcd.")
    timeout_s: float = Field(default=3.0, gt=0, description="Budget of one etcd request.")

    @model_validator(mode="after")
    def _etcd_has_endpoints(self) -> DiscoverySettings:
        if self.backend == "etcd" and not self.endpoints:
            raise ValueError("discovery with backend 'etcd' needs at least one endpoint")
        if not self.prefix.endswith("/"):
            raise ValueError("discovery.prefix must end with '/'")
        return self
