"""The upstream client's errors and deadlines (shared by its pool and its connections).

::

    Exception
    ├── PoolTimeout        no connection became free in time; nothing was sent (the gateway's own limit)
    └── UpstreamError      the replica could not be reached, or did not answer completely and in time
        ├── ConnectFailed  refused, unresolvable, unreachable, TLS handshake failed
        │   └── ConnectTimeout
        ├── ReadTimeout    (also a TimeoutError)
        ├── TotalTimeout   (also a TimeoutError)
        └── Disconnected   closed, or not valid HTTP, before the answer was complete
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class UpstreamError(Exception):
    """A replica could not be reached, or did not answer completely and in time."""


class PoolTimeout(Exception):
    """No connection to the replica became free within the pool timeout; nothing was sent."""


class ConnectFailed(UpstreamError):
    """No connection (refused, unresolvable, unreachable)."""


class ConnectTimeout(ConnectFailed):
    """No connection within the connect timeout."""


class ReadTimeout(UpstreamError, TimeoutError):
    """No byte within the read (first-byte) timeout."""


class TotalTimeout(UpstreamError, TimeoutError):
    """The exchange took longer than the total timeout."""


class Disconnected(UpstreamError):
    """The connection closed (or the answer was not valid HTTP) before the answer was complete;
    ``unanswered``: before a byte of it (on a reused connection: the server had dropped it while idle)."""

    def __init__(self, message: str, *, unanswered: bool = False) -> None:
        super().__init__(message)
        self.unanswered = unanswered


@dataclass(frozen=True, slots=True)
class Deadlines:
    """An exchange's timeouts in seconds (aiohttp's ``total``, ``sock_connect``, ``sock_read``), and the
    longest wait for a free connection (``pool_s``, within ``total_s`` too)."""

    total_s: float
    connect_s: float
    read_s: float
    pool_s: float = math.inf


__all__ = [
    "ConnectFailed",
    "ConnectTimeout",
    "Deadlines",
    "Disconnected",
    "PoolTimeout",
    "ReadTimeout",
    "TotalTimeout",
    "UpstreamError",
]
