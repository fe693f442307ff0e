"""One upstream of a model and what the gateway knows of it: health, breaker, load and speed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from yarl import URL

from citadel.gateway.breaker import BreakerState, CircuitBreaker
from citadel.gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

_EWMA_WEIGHT = 0.3  # how much the newest first-byte latency counts


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """The seed's ``failure_threshold`` / ``recovery_threshold`` (F.1.1 ``load_balancing_optimization``)."""

    failures: int = 3
    recoveries: int = 2


class Replica:
    """A replica's live state. Not thread-safe: it lives on the gateway's event loop."""

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        weight: int,
        thresholds: HealthThresholds,
        breaker: CircuitBreaker,
        metrics: GatewayMetrics,
        served_model: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.served_model = served_model or model  # the name the upstream knows the model by
        self.headers = headers or {}  # sent with every call, e.g. the upstream's bearer token
        self.weight = weight
        self.breaker = breaker
        self.outstanding = 0
        self.ewma_first_byte_s = 0.0  # 0 until measured, so a new replica is tried first
        self.wrr_current = 0  # smooth weighted round robin's running score
        self.healthy = False
        self.known = False  # no observation yet: the first one decides at once
        self.last_checked: float | None = None
        self.last_error: str | None = None
        self._thresholds = thresholds
        self._streak = 0  # consecutive observations against the current state
        self._outstanding_gauge = metrics.outstanding.labels(model, base_url)
        self._health_gauge = metrics.replica_health.labels(model, base_url)
        self.upstream_latency = metrics.upstream_latency.labels(model, base_url)
        self._urls: dict[str, URL] = {}
        # What every call to this replica sends besides the body, its length and the request id.
        self.request_headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **self.headers,
        }

    def url(self, endpoint: str) -> URL:
        """``base_url + endpoint``, parsed once."""
        url = self._urls.get(endpoint)
        if url is None:
            url = self._urls[endpoint] = URL(self.base_url + endpoint)
        return url

    @property
    def available(self) -> bool:
        """Healthy and its breaker admits a call."""
        return self.healthy and self.breaker.allows()

    def observe(self, ok: bool, error: str | None = None, *, conclusive: bool = False) -> bool:
        """Record a probe or connection outcome; returns whether the health state changed.

        A ``conclusive`` outcome decides at once (a refused connection: nothing listens there; a good probe
        while the model has no healthy replica); any other needs ``failures`` or ``recoveries`` in a row.
        """
        self.last_checked = time.time()
        if not ok:
            self.last_error = error
        if not self.known or (conclusive and ok != self.healthy):
            self.known = True
            self._set(ok)
            return True
        if ok == self.healthy:
            self._streak = 0
            return False
        self._streak += 1
        needed = self._thresholds.recoveries if ok else self._thresholds.failures
        if self._streak < needed:
            return False
        self._set(ok)
        return True

    def note_success(self) -> None:
        """A request went through: failures counted towards marking it down start again from zero."""
        if self.healthy:
            self._streak = 0

    def _set(self, healthy: bool) -> None:
        self.healthy = healthy
        self._streak = 0
        if healthy:
            self.last_error = None
        self._health_gauge.set(1 if healthy else 0)

    def begin(self) -> None:
        self.outstanding += 1
        self._outstanding_gauge.inc()

    def end(self) -> None:
        self.outstanding -= 1
        self._outstanding_gauge.dec()

    def record_first_byte(self, seconds: float) -> None:
        self.upstream_latency.observe(seconds)
        if self.ewma_first_byte_s == 0.0:
            self.ewma_first_byte_s = seconds
        else:
            self.ewma_first_byte_s += _EWMA_WEIGHT * (seconds - self.ewma_first_byte_s)


class BreakerTransitions:
    """Logs and counts a replica's breaker transitions."""

    def __init__(self, model: str, replica: str, metrics: GatewayMetrics) -> None:
        self._model = model
        self._replica = replica
        self._state_gauge = metrics.breaker_state.labels(model, replica)
        self._transitions = metrics.breaker_transitions
        self._state_gauge.set(BreakerState.CLOSED)

    def __call__(self, old: BreakerState, new: BreakerState) -> None:
        log = logger.info if new is BreakerState.CLOSED else logger.warning
        log(
            "circuit breaker %s -> %s",
            old.name.lower(),
            new.name.lower(),
            extra={"model": self._model, "replica": self._replica},
        )
        self._state_gauge.set(new)
        self._transitions.labels(self._model, self._replica, new.name.lower()).inc()
