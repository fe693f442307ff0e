"""The completion endpoints served straight from ASGI, without FastAPI's routing layers.

Profiling the gateway under load showed FastAPI's per-request routing and dependency machinery costing about
as much as the forwarding itself. The endpoints that carry the traffic are therefore answered here, as
plain ASGI middleware in front of the router; everything else (health, metrics, models, 404s) goes on to
FastAPI. A request with an ``Origin`` header also goes on, so CORS keeps applying to browsers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.datastructures import Headers, State
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from citadel.errors import CitadelError, error_response
from citadel.gateway.forwarding import Exchange, Forwarder
from citadel.gateway.request import parse_request
from citadel.gateway.request_id import current_request_id
from citadel.gateway.routing import Router

COMPLETION_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})


async def complete(state: State, endpoint: str, raw: bytes, headers: Mapping[str, str]) -> Response:
    """The answer to one completion request: routed, forwarded, and counted."""
    started = time.perf_counter()
    parsed = parse_request(raw)
    routing: Router = state.routing
    pool, extra_headers = routing.resolve(parsed, headers)
    exchange = Exchange(
        endpoint=endpoint,
        request=parsed,
        requested=pool.name,
        request_id=current_request_id.get() or "",
        started=started,
        headers=extra_headers,
    )
    forwarder: Forwarder = state.forwarder
    return await forwarder.forward(pool, exchange)


class CompletionFastPath:
    """ASGI middleware: POSTs to the completion endpoints without an ``Origin`` header are answered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in COMPLETION_ENDPOINTS
            or any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        state: State = scope["app"].state
        try:
            response = await complete(state, scope["path"], await _body(receive), Headers(scope=scope))
        except CitadelError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
