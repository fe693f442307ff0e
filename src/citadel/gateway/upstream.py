"""The gateway's clients for its replicas, and their errors translated at the boundary.

Every call to a replica goes through :class:`~citadel.gateway.upstream_pool.UpstreamClient`, a lean
keep-alive client built for this one job (on this path the client is most of the gateway's cost; see
docs/performance.md): forwarded requests, health probes and the gateway's own embedding calls.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from citadel.config.sections import GatewaySettings
from citadel.errors import (
    CitadelError,
    ServiceUnavailable,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from citadel.gateway.directory import Timeouts
from citadel.gateway.upstream_http import (
    ConnectFailed,
    ConnectTimeout,
    Deadlines,
    PoolTimeout,
    ReadTimeout,
    TotalTimeout,
    UpstreamClient,
    UpstreamError,
)

if TYPE_CHECKING:
    from citadel.gateway.directory import ModelPool
    from citadel.gateway.health import HealthMonitor
    from citadel.gateway.metrics import GatewayMetrics
    from citadel.gateway.replicas import Replica


class PoolExhausted(ServiceUnavailable):
    """Every connection the gateway allows to the replica stayed busy for the whole pool timeout.

    The gateway's own limit, not the replica's failure: it is not retried, not charged to the replica's
    breaker or health, and not an upstream timeout.
    """

    code = "upstream_pool_exhausted"

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(
            f"The upstream connection pool for the model `{model}` is exhausted ({detail}); retry shortly.",
            retry_after_s=1,
        )


class FailureKind(enum.Enum):
    """Why an attempt on a replica failed; the value is the ``reason`` label of ``llm_retries_total``."""

    CONNECT = "connect"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    STATUS = "status_5xx"


class AttemptFailed(Exception):
    """One attempt on one replica failed; ``retryable`` says whether another replica may take the request."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail

    @property
    def retryable(self) -> bool:
        # A timeout after connecting means the model is working on it: another try would double the cost.
        return self.kind is not FailureKind.TIMEOUT

    def client_error(self, model: str) -> CitadelError:
        """What the client sees when this was the last attempt."""
        if self.kind is FailureKind.CONNECT:
            return UpstreamUnreachable(f"The model `{model}` is unreachable ({self.detail}).")
        if self.kind is FailureKind.TIMEOUT:
            return UpstreamTimeout(f"The model `{model}` did not answer in time ({self.detail}).")
        return UpstreamFailed(f"The model `{model}` failed to answer ({self.detail}).")


def classify(exc: UpstreamError) -> AttemptFailed:
    """Translate the upstream client's error into an :class:`AttemptFailed` (subclasses first)."""
    if isinstance(exc, ConnectTimeout):
        return AttemptFailed(FailureKind.CONNECT, "connect timeout")
    if isinstance(exc, ConnectFailed):
        return AttemptFailed(FailureKind.CONNECT, str(exc) or "connection refused")
    if isinstance(exc, ReadTimeout):
        return AttemptFailed(FailureKind.TIMEOUT, "no byte within the first-byte timeout")
    if isinstance(exc, TotalTimeout):
        return AttemptFailed(FailureKind.TIMEOUT, "total timeout")
    return AttemptFailed(FailureKind.DISCONNECTED, str(exc) or type(exc).__name__)


def replica_failure(
    exc: UpstreamError, monitor: HealthMonitor, pool: ModelPool, replica: Replica
) -> AttemptFailed:
    """:func:`classify`, with a failed connection told to the replica's health (a refused one conclusively:
    nothing listens there)."""
    failure = classify(exc)
    if failure.kind is FailureKind.CONNECT:
        refused = isinstance(exc, ConnectFailed) and not isinstance(exc, ConnectTimeout)
        monitor.observe(pool, replica, False, failure.detail, conclusive=refused)
    return failure


def pool_exhausted(
    metrics: GatewayMetrics, pool: ModelPool, replica: Replica, exc: PoolTimeout
) -> PoolExhausted:
    """The replica never saw the call: counted, and no verdict for its breaker or health."""
    metrics.child(metrics.pool_exhausted, pool.name, replica.base_url).inc()
    return PoolExhausted(pool.name, str(exc))


def deadlines(timeouts: Timeouts) -> Deadlines:
    # The read timeout bounds the wait for the headers and for each chunk after them.
    return Deadlines(
        total_s=timeouts.total_s,
        connect_s=timeouts.connect_s,
        read_s=timeouts.first_byte_s,
        pool_s=timeouts.pool_s,
    )


def open_client(gateway: GatewaySettings) -> UpstreamClient:
    """The one client for every call to a replica (requests, probes, embeddings); closed by the lifespan."""
    return UpstreamClient(
        max_connections=gateway.max_connections, max_per_origin=gateway.max_connections_per_replica
    )


__all__ = [
    "AttemptFailed",
    "FailureKind",
    "PoolExhausted",
    "classify",
    "deadlines",
    "open_client",
]
