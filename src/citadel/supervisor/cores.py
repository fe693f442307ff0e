"""How many engine threads each local service gets, so that services on one machine do not fight over cores.

Each service's llama.cpp or torch threads busy-wait while they work; two services that each start one
thread per core on a 2-core machine spend their time preempting each other (two SmolLM2 replicas made about
2 tokens/s together where one alone made ~90). So ``citadel up`` hands out the usable cores: a service's
explicit ``threads`` first, then the rest shared by ``cpu_quota``, at least one each, and never more than
there are cores unless ``supervisor.oversubscribe_cores`` says so.

>>> budget_threads([CoreDemand("a", 200), CoreDemand("b", 200)], cores=2)
{'a': 1, 'b': 1}
>>> budget_threads([CoreDemand("chat", 300), CoreDemand("embed", 100)], cores=4)
{'chat': 3, 'embed': 1}
"""

from __future__ import annotations

from dataclasses import dataclass

from citadel.config import CitadelSettings
from citadel.engines.local import LocalService, local_services

# Backends whose engine runs its own CPU threads in the service (vLLM's are its GPU's business).
CPU_BACKENDS = frozenset({"llamacpp", "sentence-transformers"})


@dataclass(frozen=True, slots=True)
class CoreDemand:
    """One service's claim: its weight (``cpu_quota``, percent of one CPU) or an explicit thread count."""

    name: str
    cpu_quota: int
    threads: int | None = None


class CoreBudgetError(ValueError):
    """The services ask for more threads than the machine has cores (and oversubscription is off)."""


def budget_threads(demands: list[CoreDemand], cores: int, *, oversubscribe: bool = False) -> dict[str, int]:
    """Threads per service: explicit ones as given, the others a ``cpu_quota``-weighted share of the rest."""
    explicit = {demand.name: demand.threads for demand in demands if demand.threads is not None}
    shared = [demand for demand in demands if demand.threads is None]
    left = cores - sum(explicit.values())
    if not oversubscribe and left < len(shared):
        raise CoreBudgetError(_overcommitted(explicit, shared, cores))
    shares = _weighted_shares(shared, max(left, len(shared)))
    return {demand.name: explicit.get(demand.name, shares.get(demand.name, 1)) for demand in demands}


def _weighted_shares(demands: list[CoreDemand], cores: int) -> dict[str, int]:
    """One core each, then each further core to the service with the highest quota per core it would hold
    (D'Hondt's highest averages), so shares follow the quotas and add up to ``cores`` exactly."""
    shares = {demand.name: 1 for demand in demands}
    for _ in range(cores - len(demands) if demands else 0):  # every service has explicit threads: none
        best = max(demands, key=lambda demand: demand.cpu_quota / (shares[demand.name] + 1))
        shares[best.name] += 1
    return shares


def _overcommitted(explicit: dict[str, int], shared: list[CoreDemand], cores: int) -> str:
    asked = ", ".join(f"{name} {threads}" for name, threads in explicit.items())
    wanted = sum(explicit.values()) + len(shared)
    parts = [f"explicit threads ({asked})"] if explicit else []
    if shared:
        parts.append(f"at least 1 for each of {', '.join(demand.name for demand in shared)}")
    return (
        f"the local services need {wanted} engine threads ({'; '.join(parts)}) but this machine has "
        f"{cores} usable core(s); lower models[].threads, run fewer local replicas, or set "
        "supervisor.oversubscribe_cores: true"
    )


def service_demands(services: list[LocalService]) -> list[CoreDemand]:
    """The services that run engine threads on this machine, with their claims."""
    return [
        CoreDemand(service.name, service.model.cpu_quota, getattr(service.model, "threads", None))
        for service in services
        if service.model.backend in CPU_BACKENDS
    ]


def plan_threads(settings: CitadelSettings, cores: int) -> dict[str, int]:
    """Threads for each local CPU-engine service of ``settings`` (by service name); :class:`CoreBudgetError`
    when they do not fit."""
    return budget_threads(
        service_demands(local_services(settings)),
        cores,
        oversubscribe=settings.supervisor.oversubscribe_cores,
    )
