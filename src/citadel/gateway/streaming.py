"""Relaying an upstream's SSE stream to the client; a broken one ends with an error event, not a hang."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from citadel.errors import error_body
from citadel.gateway.outcome import RequestOutcome
from citadel.gateway.upstream_http import UpstreamError, UpstreamResponse
from citadel.gateway.usage import StreamTail, UsageChunkFilter

BROKEN_STREAM_CODE = "upstream_failed"


class StreamOutcome(enum.Enum):
    SUCCESS = "success"  # the upstream ended its stream
    FAILED = "failed"  # the upstream broke off; the client got an error event
    ABANDONED = "abandoned"  # the client went away first


def error_event(message: str) -> bytes:
    """An SSE event in OpenAI's error shape; the openai SDK raises ``APIError`` when it reads one."""
    body = error_body(message, "server_error", code=BROKEN_STREAM_CODE)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class RelayResponse(Response):
    """Sends ``first`` and then the rest of ``upstream``'s body as it arrives, byte for byte.

    When the stream is over, whatever happened (the upstream breaking, the client leaving), its usage (read
    once, from the tail), error code and failure go into ``outcome``, and then ``on_finish`` is called
    exactly once with how the stream ended.
    """

    def __init__(
        self,
        upstream: UpstreamResponse,
        first: bytes,
        headers: dict[str, str],
        on_finish: Callable[[StreamOutcome], None],
        outcome: RequestOutcome,
        *,
        strip_usage: bool = False,
    ) -> None:
        """``strip_usage``: the gateway, not the client, asked for the usage chunk; it is not relayed."""
        # Not Response.__init__: it would add content-length: 0 for the empty body it is not given.
        self.status_code = upstream.status
        self.background = None
        self.raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]
        self._upstream = upstream
        self._first = first
        self._on_finish = on_finish
        self._request = outcome
        self._tail = StreamTail()
        self._outcome = StreamOutcome.ABANDONED
        self._filter = UsageChunkFilter() if strip_usage else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn drops writes to a client that left without saying so; a watcher hears the disconnect, and
        # the relay checks it between chunks. A stream that has already arrived whole (short answers) is sent
        # at once, without paying for the watcher's task.
        watch = None
        if not self._upstream.arrived:
            watch = asyncio.create_task(_until_disconnect(receive), name="citadel-stream-watch")
        try:
            await self._pump(send, watch)
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            if self._outcome is StreamOutcome.SUCCESS:
                self._upstream.release()
            else:  # never hand a half-read connection back to the pool
                self._upstream.close()
            self._record()
            self._on_finish(self._outcome)

    def _record(self) -> None:
        outcome = self._request
        outcome.usage = self._tail.usage()
        outcome.answer_tail = self._tail.content
        if self._outcome is StreamOutcome.FAILED:
            outcome.failed = True
            outcome.error_code = BROKEN_STREAM_CODE
        elif self._outcome is StreamOutcome.SUCCESS:
            outcome.error_code = self._tail.error_code()

    async def _pump(self, send: Send, watch: asyncio.Task[None] | None) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        self._tail.add(self._first)
        if watch is None:  # the whole stream is here: one body message (one write to the client)
            rest = await self._upstream.read()
            self._tail.add(rest)
            self._outcome = StreamOutcome.SUCCESS
            body = self._relayed(self._first + rest) + self._relayed_rest()
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send({"type": "http.response.body", "body": self._relayed(self._first), "more_body": True})
        try:
            async for chunk in self._upstream.iter_any():
                if watch is not None and watch.done():
                    return  # the client left: stop reading, the upstream sees its connection close
                self._tail.add(chunk)
                relayed = self._relayed(chunk)
                if relayed:
                    await send({"type": "http.response.body", "body": relayed, "more_body": True})
        except UpstreamError as exc:
            self._outcome = StreamOutcome.FAILED
            reason = "timed out" if isinstance(exc, TimeoutError) else f"broke off ({type(exc).__name__})"
            message = f"The model's stream {reason}; the answer is incomplete."
            body = self._relayed_rest() + error_event(message)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        self._outcome = StreamOutcome.SUCCESS
        await send({"type": "http.response.body", "body": self._relayed_rest(), "more_body": False})

    def _relayed(self, data: bytes) -> bytes:
        return data if self._filter is None else self._filter.feed(data)

    def _relayed_rest(self) -> bytes:
        return b"" if self._filter is None else self._filter.flush()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
