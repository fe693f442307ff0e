"""The proxied endpoints served straight from ASGI, in front of FastAPI's layers.

Profiling the gateway under load showed FastAPI's per-request layers (telemetry, error middleware, routing,
dependency solving) costing about as much as the forwarding itself. The endpoints that carry the traffic are
therefore answered by :class:`GatewayApp` before them; everything else (health, metrics, models, 404s) goes
on to FastAPI. A request with an ``Origin`` header also goes on, so CORS keeps applying to browsers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from citadel.errors import CitadelError, error_response
from citadel.gateway.request_id import REQUEST_ID_HEADER, RequestIdMiddleware, current_request_id
from citadel.gateway.request_path import complete

PROXIED_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})


class GatewayApp(FastAPI):
    """FastAPI with a front door: ``x-request-id`` on everything, and POSTs to the proxied endpoints without
    an ``Origin`` header answered here, before FastAPI's own layers (telemetry, error middleware, routing).

    The rest (health, metrics, models, 404s, and browsers' requests, which need CORS) goes through FastAPI.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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
        try:
            try:
                response = await complete(
                    self.state, scope["path"], await _body(receive), Headers(scope=scope), request_id
                )
            except CitadelError as exc:
                response = error_response(exc)
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


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
