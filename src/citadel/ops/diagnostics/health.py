"""The health monitor (seed D.1.3 ``health-monitor.sh``): every service, then every configured dependency.

Like the seed's script, the overall verdict is the services' (the gateway and each model's replicas); a
dependency that is down is reported, and counts too when ``strict`` is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citadel.config import CitadelSettings
from citadel.ops.diagnostics.dependencies import probe_dependencies
from citadel.ops.diagnostics.probes import ProbeResult, http_probe
from citadel.ops.render.assets import gateway_url


@dataclass(frozen=True, slots=True)
class HealthReport:
    services: list[ProbeResult]
    dependencies: list[ProbeResult]
    strict: bool = False

    @property
    def healthy(self) -> bool:
        counted = self.services + (self.dependencies if self.strict else [])
        return all(result.ok for result in counted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "healthy" if self.healthy else "degraded",
            "services": [result.as_dict() for result in self.services],
            "dependencies": [result.as_dict() for result in self.dependencies],
        }


def _model_probes(settings: CitadelSettings, timeout_s: float) -> list[ProbeResult]:
    results = []
    for model in settings.models:
        upstreams = model.upstreams
        for index, replica in enumerate(upstreams):
            subject = f"model {model.name}" + (f" replica {index + 1}" if len(upstreams) > 1 else "")
            remote = model.backend == "remote" or (replica.url is not None and replica.url != model.base_url)
            # A remote OpenAI-compatible server need not have /health; its model list is the standard probe.
            base = replica.base_url
            url = (
                (f"{base}/models" if base.endswith("/v1") else f"{base}/v1/models")
                if remote
                else f"{base}/health"
            )
            results.append(http_probe(subject, url, timeout_s))
    return results


def check_health(settings: CitadelSettings, *, timeout_s: float = 5.0, strict: bool = False) -> HealthReport:
    gateway = http_probe("gateway", f"{gateway_url(settings)}/health", timeout_s)
    services = [*_model_probes(settings, timeout_s), gateway]
    return HealthReport(services, probe_dependencies(settings, timeout_s), strict)
