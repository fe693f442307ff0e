"""What the live surfaces keep for the app's life, built in the gateway's lifespan next to its services.

app.state.live = LiveServices.build(app.state)   # in the lifespan, after GatewayServices
...
live = live_of(websocket.app.state)    # in a route
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import State

from citadel.config.live import LiveSettings
from citadel.errors import InvalidRequest
from citadel.gateway.services import GatewayServices, services_of
from citadel.live.callers import StreamSlots
from citadel.live.console.throttle import SigninThrottle
from citadel.live.metrics import LiveMetrics


@dataclass(frozen=True, slots=True)
class LiveServices:
    state: State  # the app's: a hot reload swaps the gateway services it holds
    settings: LiveSettings
    metrics: LiveMetrics
    slots: StreamSlots
    throttle: SigninThrottle

    @property
    def gateway(self) -> GatewayServices:
        """The gateway services in use now (a reload replaces them)."""
        return services_of(self.state)

    @classmethod
    def build(cls, state: State) -> LiveServices:
        gateway = services_of(state)
        settings = gateway.settings.live
        console = settings.console
        return cls(
            state=state,
            settings=settings,
            metrics=LiveMetrics(gateway.metrics.registry),
            slots=StreamSlots(settings.max_connections_per_key),
            throttle=SigninThrottle(console.signin_failures, console.signin_window_s),
        )

    def interval(self, requested: float | None) -> float:
        """A metrics feed's seconds between snapshots: the default, or a client's at or above the floor."""
        if requested is None:
            return self.settings.metrics_interval_s
        if not requested >= self.settings.min_interval_s:
            raise InvalidRequest(
                f"interval must be at least {self.settings.min_interval_s} s", param="interval"
            )
        return requested


def live_of(state: State) -> LiveServices:
    """The live services the lifespan stored on ``state``."""
    live = getattr(state, "live", None)
    if not isinstance(live, LiveServices):
        raise RuntimeError("the live services are built by the gateway's lifespan, which has not run")
    return live
