"""Which model services a new config adds, removes or changes (a changed one is replaced, rolling).

A service is one ``citadel serve-model`` process (see :mod:`citadel.engines.local`). It changes when any key
its engine reads changes; keys only the gateway reads (replicas' weights, balancing, fallbacks, timeouts,
capabilities, cost, targets) change nothing in the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from citadel.config import CitadelSettings
from citadel.engines.local import LocalService, local_services

GATEWAY_ONLY_KEYS = frozenset(
    {"replicas", "balancing", "fallbacks", "timeouts", "capabilities", "cost", "targets"}
)


def engine_view(service: LocalService) -> dict[str, Any]:
    """What the service's process is started from."""
    return service.settings.model_dump(mode="json", exclude=set(GATEWAY_ONLY_KEYS))


@dataclass(frozen=True, slots=True)
class ServiceChanges:
    added: list[LocalService] = field(default_factory=list)
    removed: list[LocalService] = field(default_factory=list)
    changed: list[tuple[LocalService, LocalService]] = field(default_factory=list)  # (running, new)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        return (
            [f"model service {s.name}: added" for s in self.added]
            + [f"model service {s.name}: removed" for s in self.removed]
            + [f"model service {new.name}: changed" for _, new in self.changed]
        )


def service_changes(running: CitadelSettings, new: CitadelSettings) -> ServiceChanges:
    before = {service.name: service for service in local_services(running)}
    after = {service.name: service for service in local_services(new)}
    return ServiceChanges(
        added=[service for name, service in after.items() if name not in before],
        removed=[service for name, service in before.items() if name not in after],
        changed=[
            (before[name], service)
            for name, service in after.items()
            if name in before and engine_view(before[name]) != engine_view(service)
        ],
    )
