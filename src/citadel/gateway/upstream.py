"""The one pooled aiohttp client the gateway talks to replicas with; its errors translated at the boundary.

aiohttp rather than httpx: on this path the client is most of the gateway's cost, and aiohttp's is several
times cheaper per request (see docs/performance.md).
"""

from __future__ import annotations

import enum

import aiohttp

from citadel.config.sections import GatewaySettings
from citadel.errors import CitadelError, UpstreamFailed, UpstreamTimeout, UpstreamUnreachable
from citadel.gateway.directory import Timeouts


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


def classify(exc: aiohttp.ClientError | TimeoutError) -> AttemptFailed:
    """Translate an aiohttp error into an :class:`AttemptFailed` (order matters: subclasses first)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return AttemptFailed(FailureKind.CONNECT, "connect timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return AttemptFailed(FailureKind.CONNECT, "connection refused")
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return AttemptFailed(FailureKind.TIMEOUT, "no byte within the first-byte timeout")
    if isinstance(exc, TimeoutError):
        return AttemptFailed(FailureKind.TIMEOUT, "total timeout")
    return AttemptFailed(FailureKind.DISCONNECTED, name)


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    # sock_read bounds the wait for the headers and for each chunk after them.
    return aiohttp.ClientTimeout(
        total=timeouts.total_s, sock_connect=timeouts.connect_s, sock_read=timeouts.first_byte_s
    )


def open_session(gateway: GatewaySettings) -> aiohttp.ClientSession:
    """The pooled session; opened and closed by the gateway's lifespan."""
    connector = aiohttp.TCPConnector(limit=gateway.max_connections, limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        # Bodies pass through byte for byte, compressed or not, and no proxy from the environment applies.
        auto_decompress=False,
        trust_env=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        cookie_jar=aiohttp.DummyCookieJar(),  # upstreams' cookies mean nothing here; skips a jar per call
    )


__all__ = ["AttemptFailed", "FailureKind", "classify", "client_timeout", "open_session"]
