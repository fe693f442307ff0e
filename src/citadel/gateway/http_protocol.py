"""uvicorn's httptools protocol, with a shorter way in for the proxied endpoints.

Measured under load, uvicorn's layers around an ASGI app cost a proxy about 30 µs a request: the proxy
headers middleware and the app's own dispatch, a regular expression per response header, and two writes for
an answer (its head, then its body). :class:`GatewayProtocol` sends the requests :class:`GatewayApp`'s front
door takes (:func:`.fast_path.takes`) straight to :meth:`GatewayApp.proxied_entry`, and their
:class:`DirectCycle` writes an answer's head together with its first body bytes, so that a whole JSON answer
(or a stream that arrived whole) leaves in one write.

Those requests skip ``ProxyHeadersMiddleware`` because nothing on the proxied path reads the client's address
or scheme. Everything else stays uvicorn's: every other request, keep-alive and its timeout, pipelining, flow
control, ``Expect: 100-continue``, ``limit_concurrency``, graceful shutdown and the worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from starlette.types import ASGIApp, Message
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn.server import ServerState

from citadel.gateway.fast_path import GatewayApp, takes


class GatewayProtocol(HttpToolsProtocol):
    """Pass as uvicorn's ``http``: its httptools protocol, with the proxied requests answered directly."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        gateway = front_door(self.app)
        self._entry = gateway.proxied_entry() if gateway is not None else None

    def on_headers_complete(self) -> None:
        entry = self._entry
        if (
            entry is None
            or self.limit_concurrency is not None  # uvicorn's check and its 503 apply
            or self.root_path
            or self.parser.get_method() != b"POST"
            or self.parser.should_upgrade()
        ):
            super().on_headers_complete()
            return
        url = httptools.parse_url(self.url)
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path or not takes(path, self.headers):
            super().on_headers_complete()
            return
        scope = self.scope
        scope["method"] = "POST"
        http_version = self.parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = url.query or b""
        existing = self.cycle
        self.cycle = DirectCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if existing is None or existing.response_complete:
            self._start_asgi_task(self.cycle, entry)  # type: ignore[arg-type]  # starlette's ASGI types
        else:  # pipelined behind an answer still going out: uvicorn starts it when that one is done
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, entry))  # type: ignore[arg-type]


class DirectCycle(RequestResponseCycle):
    """uvicorn's request-response cycle for a proxied request: the answer's head is held back and written
    with its first body bytes; the headers are the gateway's own (or a replica's, parsed by llhttp), so
    they are not checked again by regular expression."""

    _head: bytes | None = None

    async def send(self, message: Message) -> None:  # type: ignore[override]
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected 'http.response.start', got {message['type']!r}")
            self._start(message)
            return
        if self.response_complete or message["type"] != "http.response.body":
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} for this response")
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        if self.chunked_encoding:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            self.expected_content_length -= len(body)
            if self.expected_content_length < 0:
                raise RuntimeError("Response content longer than Content-Length")
            data = body
        head, self._head = self._head, None
        if head is not None:
            data = head + data
        if data:
            self.transport.write(data)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def _start(self, message: Message) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        status: int = message["status"]
        if self.access_log:
            self.access_logger.info(
                '%s - "POST %s HTTP/%s" %d',
                get_client_addr(self.scope),
                get_path_with_query_string(self.scope),
                self.scope["http_version"],
                status,
            )
        content = [STATUS_LINE[status]]
        close = False
        for name, value in (*self.default_headers, *message.get("headers", ())):
            lowered = name.lower()
            if lowered == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value)
                self.chunked_encoding = False
            elif lowered == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif lowered == b"connection" and b"close" in value.lower():
                self.keep_alive = False
                close = True
            content += (lowered, b": ", value, b"\r\n")
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and status not in (204, 304):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self._head = b"".join(content)


def front_door(app: ASGIApp | None) -> GatewayApp | None:
    """The :class:`GatewayApp` inside uvicorn's middleware wrappers (each keeps the next in ``.app``)."""
    for _ in range(8):
        if isinstance(app, GatewayApp):
            return app
        app = getattr(app, "app", None)
    return None
