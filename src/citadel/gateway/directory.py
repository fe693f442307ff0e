"""The models the gateway can route to, and what it currently knows of their health."""

from __future__ import annotations

import time
from dataclasses import dataclass

from citadel.config import ModelSettings
from citadel.errors import ModelNotFound, ServiceUnavailable


@dataclass(slots=True)
class ModelRoute:
    """One configured model and its upstream model service."""

    name: str
    base_url: str
    healthy: bool = False
    last_checked: float | None = None
    last_error: str | None = None

    def mark(self, healthy: bool, error: str | None = None) -> bool:
        """Record a health observation; returns whether the state changed."""
        changed = healthy != self.healthy
        self.healthy = healthy
        self.last_error = None if healthy else error
        self.last_checked = time.time()
        return changed


class ModelDirectory:
    """Name -> :class:`ModelRoute` for every model in the config, in config order."""

    def __init__(self, models: list[ModelSettings]) -> None:
        self._routes = {model.name: ModelRoute(model.name, model.base_url) for model in models}

    def routes(self) -> list[ModelRoute]:
        return list(self._routes.values())

    def healthy(self) -> list[ModelRoute]:
        return [route for route in self._routes.values() if route.healthy]

    def resolve(self, name: str) -> ModelRoute:
        """The route for ``name`` if it may take traffic now: 404 if unknown, 503 if unhealthy."""
        route = self._routes.get(name)
        if route is None:
            raise ModelNotFound(f"The model `{name}` does not exist.", param="model")
        if not route.healthy:
            reason = f" ({route.last_error})" if route.last_error else ""
            raise ServiceUnavailable(
                f"The model `{name}` is currently unavailable{reason}.", code="model_unavailable"
            )
        return route
