"""``citadel ray scale``: new replica bounds for one model, applied to what runs, nothing else changed.

The config to send is the one Ray Serve reports as deployed, with only that model's bounds replaced. Its
``import_path`` and ``args`` stay as they were, so Ray Serve's code version does not change and the
running replicas are kept: the autoscaler just works within the new bounds. The next ``citadel ray
deploy`` sends the config file's bounds again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from citadel.ray_serve.serve_config import DEPLOYMENT_NAME, REPLICA_IMPORT_PATH
from citadel.ray_serve.status import ServeStatus


class ScaleError(ValueError):
    """The bounds cannot be applied: an unknown model, bounds out of order, a model not Citadel's."""


@dataclass(frozen=True, slots=True)
class Rescale:
    """The config to send, and the bounds it gives the model."""

    config: dict[str, Any]
    min_replicas: int
    max_replicas: int


def rescaled(status: ServeStatus, model: str, min_replicas: int | None, max_replicas: int | None) -> Rescale:
    """The deployed config with ``model``'s bounds replaced (None keeps one as deployed)."""
    app = status.applications.get(model)
    if app is None:
        deployed = ", ".join(status.applications) or "none"
        raise ScaleError(f"model {model!r} is not deployed on this cluster (deployed: {deployed})")
    if app.deployed_config.get("import_path") != REPLICA_IMPORT_PATH:
        raise ScaleError(
            f"model {model!r} is not a Citadel model service on Ray (a vLLM model's bounds live in its "
            "Ray Serve LLM config): change its placement and run citadel ray deploy"
        )
    applications = [copy.deepcopy(a.deployed_config) for a in status.applications.values()]
    target = next(a for a in applications if a.get("name") == model)
    deployment = next(d for d in target.get("deployments", []) if d.get("name") == DEPLOYMENT_NAME)
    autoscaling = deployment.setdefault("autoscaling_config", {})
    low = autoscaling.get("min_replicas", 1) if min_replicas is None else min_replicas
    high = autoscaling.get("max_replicas", low) if max_replicas is None else max_replicas
    if low < 1 or high < low:
        raise ScaleError(f"bounds must satisfy 1 <= min <= max; got min {low}, max {high}")
    autoscaling.update(min_replicas=low, max_replicas=high)
    http = status.http_options
    config = {
        "proxy_location": status.proxy_location or "HeadOnly",
        "http_options": {"host": http.get("host"), "port": http.get("port")},
        "applications": applications,
    }
    return Rescale(config, low, high)
