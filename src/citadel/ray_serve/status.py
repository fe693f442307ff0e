"""What Ray Serve reports of the applications on a cluster, as typed values (``citadel ray status``).

Read from the dashboard's ``GET /api/serve/applications/`` (Ray Serve's ``ServeInstanceDetails``): per
application its status, per deployment its target and its replicas, each with its state, node and PID.

>>> ReplicaStatus("r1", "RUNNING", 4242, "node-a").running
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    replica_id: str
    state: str  # STARTING, UPDATING, RECOVERING, RUNNING, STOPPING, PENDING_MIGRATION
    pid: int | None
    node_id: str | None

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    name: str
    status: str  # UPDATING, HEALTHY, UNHEALTHY, UPSCALING, DOWNSCALING, DEPLOY_FAILED
    message: str
    target_replicas: int
    replicas: list[ReplicaStatus] = field(default_factory=list)
    min_replicas: int | None = None
    max_replicas: int | None = None

    @property
    def running(self) -> int:
        return sum(replica.running for replica in self.replicas)


@dataclass(frozen=True, slots=True)
class ApplicationStatus:
    name: str
    status: str  # NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY, DELETING
    message: str
    route_prefix: str | None
    deployments: list[DeploymentStatus]
    deployed_config: dict[str, Any]  # the application's entry of the config last sent

    @property
    def running_replicas(self) -> int:
        return sum(deployment.running for deployment in self.deployments)

    @property
    def settled(self) -> bool:
        """Running, every deployment at its target (no replica still starting or stopping)."""
        return self.status == "RUNNING" and all(
            d.running == d.target_replicas == len(d.replicas) for d in self.deployments
        )


@dataclass(frozen=True, slots=True)
class ServeStatus:
    """The cluster's Serve instance: where its proxy listens, and its applications by name."""

    http_options: dict[str, Any]
    proxy_location: str | None
    applications: dict[str, ApplicationStatus]


def parse_status(details: dict[str, Any]) -> ServeStatus:
    """``ServeInstanceDetails`` JSON as a :class:`ServeStatus`."""
    applications = {
        name: _application(name, app) for name, app in (details.get("applications") or {}).items()
    }
    return ServeStatus(details.get("http_options") or {}, details.get("proxy_location"), applications)


def _application(name: str, app: dict[str, Any]) -> ApplicationStatus:
    return ApplicationStatus(
        name=name,
        status=str(app.get("status", "")),
        message=str(app.get("message") or ""),
        route_prefix=app.get("route_prefix"),
        deployments=[_deployment(d) for d in (app.get("deployments") or {}).values()],
        deployed_config=dict(app.get("deployed_app_config") or {}),
    )


def _deployment(deployment: dict[str, Any]) -> DeploymentStatus:
    autoscaling = (deployment.get("deployment_config") or {}).get("autoscaling_config") or {}
    return DeploymentStatus(
        name=str(deployment.get("name", "")),
        status=str(deployment.get("status", "")),
        message=str(deployment.get("message") or ""),
        target_replicas=int(deployment.get("target_num_replicas") or 0),
        replicas=[
            ReplicaStatus(
                replica_id=str(replica.get("replica_id", "")),
                state=str(replica.get("state", "")),
                pid=replica.get("pid"),
                node_id=replica.get("node_id"),
            )
            for replica in deployment.get("replicas") or []
        ],
        min_replicas=autoscaling.get("min_replicas"),
        max_replicas=autoscaling.get("max_replicas"),
    )
