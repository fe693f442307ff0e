"""The gateway's upstream client, under the name the request path imports it by.

The pool is :mod:`.upstream_pool`, one connection :mod:`.upstream_connection`, the errors and deadlines
:mod:`.upstream_errors`; this module only gathers them.
"""

from __future__ import annotations

from citadel.gateway.upstream_errors import (
    ConnectFailed,
    ConnectTimeout,
    Deadlines,
    Disconnected,
    PoolTimeout,
    ReadTimeout,
    TotalTimeout,
    UpstreamError,
)
from citadel.gateway.upstream_pool import UpstreamClient, UpstreamResponse

__all__ = [
    "ConnectFailed",
    "ConnectTimeout",
    "Deadlines",
    "Disconnected",
    "PoolTimeout",
    "ReadTimeout",
    "TotalTimeout",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamResponse",
]
