"""Watching one answer go out, into the request's outcome.

The answer (forwarded JSON, a relayed stream, a cached replay or an error) is wrapped in
:class:`ObservedResponse`, which sees each ASGI message on its way to the client and writes into the
:class:`~citadel.gateway.outcome.RequestOutcome` the status sent, when the first body byte left, whether the
last one did, and (only when the answer is to be cached) the body chunks as sent. It reads nothing in the
body: the usage and error codes are written by whoever produced the answer. When the answer is out (or the
client left), ``on_done`` runs once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from citadel.gateway.outcome import RequestOutcome


def see(outcome: RequestOutcome, message: Message) -> None:
    """Record one ASGI message of the answer in ``outcome``."""
    if message["type"] == "http.response.body":
        body: bytes = message.get("body", b"")
        if body:
            if outcome.first_byte_at is None:
                outcome.first_byte_at = time.perf_counter()
            if outcome.answer is not None:
                outcome.answer.append(body)
        if not message.get("more_body", False):
            outcome.completed = True
    elif message["type"] == "http.response.start":
        outcome.status = int(message["status"])
        if outcome.answer is not None:  # stored with the answer
            for key, value in message.get("headers", ()):
                if key.lower() == b"content-type":
                    outcome.content_type = value.decode("latin-1")


class ObservedResponse(Response):
    """Sends ``inner`` while recording it in ``outcome`` (adding ``added_headers`` to its start), then
    awaits ``on_done`` (even if the client left)."""

    def __init__(
        self,
        inner: Response,
        outcome: RequestOutcome,
        on_done: Callable[[], Awaitable[None]],
        added_headers: list[tuple[bytes, bytes]] | None = None,
    ):
        # Not Response.__init__: this object only passes ``inner``'s messages on.
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers
        self._inner = inner
        self._outcome = outcome
        self._on_done = on_done
        self._added = added_headers or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = self._outcome
        added = self._added

        async def watched(message: Message) -> None:
            see(outcome, message)
            if added and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self._inner(scope, receive, watched)
        finally:
            await self._on_done()
