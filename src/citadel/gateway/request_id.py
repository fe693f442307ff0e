"""``x-request-id`` on every response: the client's own if it sent a sensible one, else a new one.

The id is also in a context variable for the duration of the request, so every log line written while
handling it carries it (see :mod:`.log_format`), and the forwarder sends it on to the upstream.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
HEADER_KEY = REQUEST_ID_HEADER.encode()
_SENSIBLE = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")  # anything else is replaced, not echoed

current_request_id: ContextVar[str | None] = ContextVar("citadel_request_id", default=None)


class RequestIdMiddleware:
    """Plain ASGI middleware: cheaper on the hot path than Starlette's ``BaseHTTPMiddleware``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._new_id = request_ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.assign(scope)
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER_KEY, encoded)]
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)

    def assign(self, scope: Scope) -> str:
        """The request's id: the client's own if it sent a sensible one, else a new one."""
        return _incoming(scope) or next(self._new_id)


def request_ids() -> Iterator[str]:
    """Unique ids of 32 hex digits: a random prefix for this process, then a counter.

    ``uuid4`` reads the kernel's random source for every request, a visible cost on the hot path; one
    random prefix per process keeps ids from different workers and restarts apart just as well.
    """
    prefix = secrets.token_hex(8)
    return (f"{prefix}{number:016x}" for number in itertools.count(1))


def _incoming(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER_KEY:
            return value.decode() if _SENSIBLE.match(value) else None
    return None
