"""``/stream/metrics`` and ``/stream/chat/{model}``: Server-Sent Events, for ``EventSource`` and curl.

Both take an API key as an ``Authorization`` header or a ``token`` query parameter (``/stream/metrics``
also the console's cookie). Their messages go through a bounded outbox as the WebSockets' do: a reader
``live.send_buffer`` messages behind is cut off.

``/stream/chat/{model}?messages=[...]`` (or ``?prompt=...``), with ``max_tokens`` and ``temperature``:
the model's answer as OpenAI's stream (``data: {chunk}`` ... ``data: [DONE]``) — the same bytes
``/v1/chat/completions`` with ``stream: true`` sends, through the same request path. An error before the
stream (a bad key, a limit) is the same OpenAI error JSON with its status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from citadel.errors import CitadelError, InvalidRequest, error_response
from citadel.gateway.request_id import HEADER_KEY as REQUEST_ID_HEADER_KEY
from citadel.gateway.request_id import current_request_id
from citadel.live.bridge import CHAT, relay
from citadel.live.callers import Caller, bearer
from citadel.live.connect import StreamRecord, caller_for
from citadel.live.outbox import Outbox, SlowReader, pump
from citadel.live.state import LiveServices, live_of
from citadel.live.status import StatusReader

router = APIRouter()

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not hold events back
]

Produce = Callable[[Outbox[Message]], Awaitable[None]]


class LiveStream(Response):
    """Sends the ASGI messages ``produce`` offers, through a bounded outbox; ends when the client leaves.

    ``produce`` offers the response's own start message; ``stop`` is set when the client disconnects.
    ``record``: the stream's request-log row (``None`` for a chat, which the request path logs itself).
    """

    def __init__(
        self,
        live: LiveServices,
        endpoint: str,
        record: StreamRecord | None,
        produce: Produce,
        stop: asyncio.Event,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = []
        self._live = live
        self._endpoint = endpoint
        self._record = record
        self._produce = produce
        self._stop = stop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = self._live
        record = self._record or StreamRecord(live, self._endpoint, "sse")  # a chat's: not written

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self._stop.set()

        listener = asyncio.create_task(listen(), name="citadel-sse-listen")
        streaming = asyncio.create_task(pump(self._produce, send, limit=live.settings.send_buffer))
        gauge = live.metrics.connections.labels("sse", self._endpoint)
        gauge.inc()
        try:
            await asyncio.wait({listener, streaming}, return_when=asyncio.FIRST_COMPLETED)
            if listener.done() and not streaming.done():
                await asyncio.wait({streaming}, timeout=5.0)  # a chat stops at its next chunk
            if streaming.done() and not streaming.cancelled():
                error = streaming.exception()
                if isinstance(error, SlowReader):
                    record.status, record.error = 499, "slow_reader"
                    live.metrics.dropped.labels("sse", self._endpoint).inc()
                elif isinstance(error, OSError):
                    record.status, record.error = 499, "client_disconnected"
                elif error is not None:
                    raise error
            elif self._stop.is_set():
                record.status, record.error = 499, "client_disconnected"
        finally:
            gauge.dec()
            for task in (listener, streaming):
                task.cancel()
            await asyncio.gather(listener, streaming, return_exceptions=True)
            if self._record is not None:
                self._record.close()


def _event(data: dict[str, Any]) -> Message:
    body = b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
    return {"type": "http.response.body", "body": body, "more_body": True}


async def _open(live: LiveServices, request: Request, token: str | None) -> Caller:
    return await caller_for(live, bearer(request.headers, token), request.cookies, request.headers)


@router.get("/stream/metrics")
async def stream_metrics(
    request: Request, interval: float | None = None, token: str | None = None
) -> Response:
    """A snapshot of the gateway every ``interval`` seconds, as SSE events."""
    live = live_of(request.app.state)
    try:
        caller = await _open(live, request, token)
        every = live.interval(interval)
    except CitadelError as exc:
        live.metrics.refused.labels("sse", "auth").inc()
        return error_response(exc)
    record = StreamRecord(live, "/stream/metrics", "sse", key_id=caller.key_id)
    reader = StatusReader(live.gateway)

    if live.slots.full(caller.identity):  # refused as a 429 here, rather than once the stream has begun
        live.metrics.refused.labels("sse", "limit").inc()
        record.status, record.error = 429, "rate_limit_exceeded"
        record.close()
        return error_response(live.slots.refusal())

    async def produce(outbox: Outbox[Message]) -> None:
        with live.slots.hold(caller.identity):
            outbox.offer({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            while True:
                outbox.offer(_event(reader.snapshot()))
                await asyncio.sleep(every)

    return LiveStream(live, "/stream/metrics", record, produce, asyncio.Event())


def chat_body(
    messages: str | None, prompt: str | None, max_tokens: int | None, temperature: float | None
) -> dict[str, Any]:
    """The chat request a ``/stream/chat`` query stands for."""
    if messages is not None:
        try:
            parsed = json.loads(messages)
        except ValueError as exc:
            raise InvalidRequest("messages must be a JSON array of messages", param="messages") from exc
    elif prompt is not None:
        parsed = [{"role": "user", "content": prompt}]
    else:
        raise InvalidRequest("give messages (a JSON array) or prompt", param="messages")
    body: dict[str, Any] = {"messages": parsed}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    return body


@router.get("/stream/chat/{model}")
async def stream_chat(
    request: Request,
    model: str,
    messages: str | None = None,
    prompt: str | None = None,
    max_tokens: int | None = Query(default=None, ge=1),
    temperature: float | None = Query(default=None, ge=0, le=2),
    token: str | None = None,
) -> Response:
    """``model``'s answer as OpenAI's SSE stream, ending with ``data: [DONE]``."""
    live = live_of(request.app.state)
    authorization = bearer(request.headers, token)
    try:
        body = chat_body(messages, prompt, max_tokens, temperature)
    except CitadelError as exc:
        return error_response(exc)
    raw = json.dumps({**body, "model": model, "stream": True}).encode()
    headers = {"authorization": authorization} if authorization else {}
    stop = asyncio.Event()

    async def produce(outbox: Outbox[Message]) -> None:
        # The request path authenticates and counts it like any chat request; its log row is the chat's.
        async def deliver(message: Message) -> None:
            if message["type"] == "http.response.start":  # the request id middleware adds its own
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER_KEY]
                message = {**message, "headers": kept}
            await outbox.put(message, live.settings.stall_timeout_s)

        request_id = current_request_id.get()
        await relay(
            live.gateway, CHAT, raw, headers, deliver, transport="sse", stop=stop, request_id=request_id
        )

    return LiveStream(live, "/stream/chat", None, produce, stop)
