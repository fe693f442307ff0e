"""Process supervision for ``citadel up``: start, health-wait, restart with backoff, stop by group."""

from citadel.supervisor.plan import gateway_spec, model_specs
from citadel.supervisor.process import ManagedProcess, ServiceSpec, StartupFailed
from citadel.supervisor.reporter import Reporter
from citadel.supervisor.supervisor import Supervisor

__all__ = [
    "ManagedProcess",
    "Reporter",
    "ServiceSpec",
    "StartupFailed",
    "Supervisor",
    "gateway_spec",
    "model_specs",
]
