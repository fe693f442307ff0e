"""Watching one answer go out, for the request log and the response cache.

The answer (forwarded JSON, a relayed stream, a cached replay or an error) is wrapped in
:class:`ObservedResponse`, which sees each ASGI message on its way to the client: the status, the model that
answered (``x-citadel-model``), when the first body byte left, and the body (whole when it is to be cached,
else only its tail, where the usage is). When the answer is out, :meth:`AnswerObserver.finish` runs once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from citadel.gateway.usage import StreamTail

# OpenAI's error JSON writes "type" before "code": one pattern each, so that the code wins when there is one.
_ERROR_CODE = re.compile(rb'"error"\s*:\s*\{.*?"code"\s*:\s*"([^"]+)"', re.DOTALL)
_ERROR_TYPE = re.compile(rb'"error"\s*:\s*\{.*?"type"\s*:\s*"([^"]+)"', re.DOTALL)


class AnswerObserver:
    """What was sent: status, headers, first-byte time, usage and (if ``keep_body``) every body chunk."""

    def __init__(self, started: float, *, keep_body: bool) -> None:
        self.started = started
        self.status = 0
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self.first_byte_at: float | None = None
        self.chunks: list[bytes] = []
        self.completed = False  # the last body message went out
        self.keep_body = keep_body
        self._tail = StreamTail()

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            body: bytes = message.get("body", b"")
            if body and self.first_byte_at is None:
                self.first_byte_at = time.perf_counter()
            if body:
                self._tail.add(body)
                if self.keep_body:
                    self.chunks.append(body)
            if not message.get("more_body", False):
                self.completed = True
        elif message["type"] == "http.response.start":
            self.status = int(message["status"])
            self._raw_headers = message.get("headers", [])

    def header(self, name: str) -> str | None:
        """A response header's value (``name`` in lower case); decoded only when asked for."""
        wanted = name.encode("latin-1")
        for key, value in self._raw_headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def usage(self) -> dict[str, int]:
        return self._tail.usage()

    @property
    def error_code(self) -> str | None:
        """The OpenAI error ``code`` (else ``type``) of an error answer or stream error event."""
        tail = self._tail.content
        if b'"error"' not in tail:  # the common case, without the regex
            return None
        match = _ERROR_CODE.search(tail) or _ERROR_TYPE.search(tail)
        return match.group(1).decode() if match else None


class ObservedResponse(Response):
    """Sends ``inner`` while ``observer`` watches (adding ``added_headers`` to its start), then awaits
    ``on_done`` (even if the client left)."""

    def __init__(
        self,
        inner: Response,
        observer: AnswerObserver,
        on_done: Callable[[], Awaitable[None]],
        added_headers: list[tuple[bytes, bytes]] | None = None,
    ):
        # Not Response.__init__: this object only passes ``inner``'s messages on.
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers
        self._inner = inner
        self._observer = observer
        self._on_done = on_done
        self._added = added_headers or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        see = self._observer.see
        added = self._added

        async def watched(message: Message) -> None:
            see(message)
            if added and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self._inner(scope, receive, watched)
        finally:
            await self._on_done()
