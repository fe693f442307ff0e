"""Proxied requests from the live surfaces, through the very request path ``/v1/chat/completions`` takes.

A WebSocket turn, an SSE chat or a GraphQL mutation is one call of
:func:`~citadel.gateway.request_path.complete` (keys, limits, retrieval, the cache, routing, the request
log and metrics), whose answer — a starlette response — is run as an ASGI app against a :class:`Sink`
instead of a socket. Nothing is buffered here: each body chunk goes to the sink as it is sent.

    class Collect:
        def start(self, status: int, content_type: str) -> None: ...
        async def body(self, chunk: bytes) -> None: ...

    await relay(services, CHAT, raw, {"authorization": "Bearer ..."}, to_sink(Collect()), transport="ws")

``stop`` set tells the answer its client left, as a dropped HTTP connection would: a stream stops at the
next chunk and is logged as cancelled (499).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.types import Message

from citadel.gateway.request_path import complete
from citadel.gateway.services import GatewayServices

CHAT = "/v1/chat/completions"


class Sink(Protocol):
    """Where an answer goes; ``body`` may wait for the client, and raise to abandon it (``SlowReader``)."""

    def start(self, status: int, content_type: str) -> None: ...

    async def body(self, chunk: bytes) -> None: ...


Deliver = Callable[[Message], Awaitable[None]]  # one ASGI message of the answer; may raise to abandon it


def to_sink(sink: Sink) -> Deliver:
    """The answer's ASGI messages as ``start`` and ``body`` calls."""

    async def deliver(message: Message) -> None:
        if message["type"] == "http.response.start":
            content_type = ""
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    content_type = value.decode("latin-1")
            sink.start(int(message["status"]), content_type)
        elif message["type"] == "http.response.body" and message.get("body"):
            await sink.body(message["body"])

    return deliver


def new_request_id() -> str:
    return uuid.uuid4().hex


async def relay(
    services: GatewayServices,
    endpoint: str,
    raw: bytes,
    headers: Mapping[str, str],
    deliver: Deliver,
    *,
    transport: str,
    stop: asyncio.Event | None = None,
    request_id: str | None = None,
) -> str:
    """Answer one request into ``deliver``; returns its request id (the request log's key)."""
    request_id = request_id or new_request_id()
    response = await complete(services, endpoint, raw, headers, request_id, transport=transport)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},  # 2.3: responses listen for the disconnect
        "http_version": "1.1",
        "method": "POST",
        "path": endpoint,
        "headers": [],
    }
    never = asyncio.Event()

    async def receive() -> Message:
        await (stop or never).wait()
        return {"type": "http.disconnect"}

    await response(scope, receive, deliver)
    return request_id


class SseEvents:
    """Splits an SSE byte stream into its ``data:`` payloads, across chunk boundaries.

    >>> events = SseEvents()
    >>> events.feed(b'data: {"a": 1}\\n\\nda')
    ['{"a": 1}']
    >>> events.feed(b"ta: [DONE]\\n\\n")
    ['[DONE]']
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        *events, self._buffer = self._buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        payloads = []
        for event in events:
            data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                payloads.append(b"\n".join(data).decode("utf-8", "replace"))
        return payloads
