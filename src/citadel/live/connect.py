"""Opening a stream: who the caller is (key or console session), a slot for them, and its request-log row.

Every stream (``/ws/*``, ``/stream/*``) is logged once when it ends, like an HTTP request: endpoint,
transport, the caller's key, how long it was open, and 499 if it was dropped or the client left early.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from citadel.errors import AuthenticationError
from citadel.governance import RequestLogEntry
from citadel.live.bridge import new_request_id
from citadel.live.callers import Caller, key_caller
from citadel.live.console.accounts import find_session
from citadel.live.console.guard import COOKIE
from citadel.live.state import LiveServices


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether a browser's Origin is this host: a cookie is only taken from the console's own pages."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser
    return hmac.compare_digest(urlsplit(origin).netloc.encode(), headers.get("host", "").encode())


async def session_caller(
    live: LiveServices, cookies: Mapping[str, str], headers: Mapping[str, str]
) -> Caller | None:
    """The console user behind a session cookie, or ``None``."""
    token = cookies.get(COOKIE)
    if not token or not same_origin(headers):
        return None
    session = await find_session(live.gateway.governance.database, token)
    if session is None:
        return None
    return Caller(f"user:{session.user.username}", None, session.user.role == "admin")


async def caller_for(
    live: LiveServices, authorization: str | None, cookies: Mapping[str, str], headers: Mapping[str, str]
) -> Caller:
    """A key's caller if ``authorization`` is given, else a console session's; 401 for neither."""
    governance = live.gateway.governance
    if authorization is None:
        session = await session_caller(live, cookies, headers)
        if session is not None:
            return session
        if governance.settings.auth.enabled:
            raise AuthenticationError(
                "Send an API key: an Authorization header, a `token` query parameter, or (WebSocket) "
                'a first message {"type": "auth", "token": "..."}.'
            )
    return await key_caller(governance, authorization)


@dataclass(slots=True)
class StreamRecord:
    """The request-log row of one stream, written by :meth:`close`."""

    live: LiveServices
    endpoint: str
    transport: str
    key_id: int | None = None
    model: str = ""
    status: int = 200
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def close(self) -> None:
        self.live.gateway.governance.record(
            RequestLogEntry(
                request_id=new_request_id(),
                key_id=self.key_id,
                model=self.model,
                endpoint=self.endpoint,
                status_code=self.status,
                error_type=self.error,
                latency_ms=(time.perf_counter() - self.started) * 1000,
                transport=self.transport,
            ),
            count_usage=False,
        )
