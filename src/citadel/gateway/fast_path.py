"""The proxied endpoints served straight from ASGI, in front of FastAPI's layers.

Profiling the gateway under load showed FastAPI's per-request layers (telemetry, error middleware, routing,
dependency solving) costing about as much as the forwarding itself. The endpoints that carry the traffic are
therefore answered by :class:`GatewayApp` before them; everything else (health, metrics, models, 404s) goes
on to FastAPI. A request with an ``Origin`` header also goes on, so CORS keeps applying to browsers.

Bad input never costs more than its bound: a body over ``gateway.max_body_bytes`` is refused (413) as soon
as its Content-Length, or the bytes read so far, say so. An exception outside Citadel's error tree (a bug)
is answered as an OpenAI-shaped 500 carrying the request id, logged once, and the server goes on serving.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from citadel.errors import CitadelError, UnexpectedError, error_response
from citadel.gateway.request_id import REQUEST_ID_HEADER, RequestIdMiddleware, current_request_id
from citadel.gateway.request_path import complete
from citadel.gateway.services import services_of
from citadel.http_body import read_body

logger = logging.getLogger(__name__)

PROXIED_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})


class GatewayApp(FastAPI):
    """FastAPI with a front door: ``x-request-id`` on everything, and POSTs to the proxied endpoints without
    an ``Origin`` header answered here, before FastAPI's own layers (telemetry, error middleware, routing).

    The rest (health, metrics, models, 404s, and browsers' requests, which need CORS) goes through FastAPI.
    """

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes
        self._front = RequestIdMiddleware(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _proxied(scope):
            await self._front(scope, receive, send)
            return
        # The request id is set here rather than by the middleware: the answer's one send wrapper (the
        # observer's) adds its header, instead of a second wrapper around every message.
        scope["app"] = self
        request_id = self._front.assign(scope)
        token = current_request_id.set(request_id)
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            headers = Headers(scope=scope)
            try:
                body = await read_body(receive, self.max_body_bytes, headers.get("content-length"))
                response = await complete(services_of(self.state), scope["path"], body, headers, request_id)
            except CitadelError as exc:
                response = error_response(exc)
                response.headers[REQUEST_ID_HEADER] = request_id
            await response(scope, receive, watched)
        except Exception:
            # complete() answers (and logs) a bug in the request path itself; this is the last resort for
            # one in sending the answer. Once the answer has begun, the server can only close the connection.
            logger.exception("unexpected error answering %s (request %s)", scope["path"], request_id)
            if not started:
                response = error_response(UnexpectedError(request_id))
                response.headers[REQUEST_ID_HEADER] = request_id
                await response(scope, receive, send)
        finally:
            current_request_id.reset(token)


def _proxied(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and scope["path"] in PROXIED_ENDPOINTS
        and not any(name == b"origin" for name, _ in scope["headers"])
    )
