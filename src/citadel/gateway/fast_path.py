"""The proxied endpoints served straight from ASGI, in front of FastAPI's layers.

Profiling the gateway under load showed FastAPI's per-request layers (telemetry, error middleware, routing,
dependency solving) costing about as much as the forwarding itself. The endpoints that carry the traffic are
therefore answered by :class:`GatewayApp` before them; everything else (health, metrics, models, 404s) goes
on to FastAPI. A request with an ``Origin`` header also goes on, so CORS keeps applying to browsers. Each
endpoint is a :class:`Door`: OpenAI's go straight to the request path; the Responses and Messages APIs are
translated first, and the Messages API's errors are in Anthropic's shape.

Bad input never costs more than its bound: a body over ``gateway.max_body_bytes`` is refused (413) as soon
as its Content-Length, or the bytes read so far, say so. An exception outside Citadel's error tree (a bug)
is answered as a 500 (in the door's shape) carrying the request id, logged once, and the server goes on
serving.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from citadel.errors import CitadelError, UnexpectedError, error_response
from citadel.gateway.messages_api.errors import anthropic_error_response
from citadel.gateway.messages_api.routes import MESSAGES, create_message
from citadel.gateway.request_id import REQUEST_ID_HEADER, RequestIdMiddleware, current_request_id
from citadel.gateway.request_path import complete
from citadel.gateway.responses_api.routes import RESPONSES, create_response
from citadel.gateway.services import GatewayServices, services_of
from citadel.http_body import read_body

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Door:
    """How one proxied endpoint is answered, and how its errors read (OpenAI's shape, or its API's)."""

    answer: Callable[[GatewayServices, str, bytes, Mapping[str, str], str | None], Awaitable[Response]]
    refuse: Callable[[CitadelError], Response] = error_response


_OPENAI = Door(complete)
DOORS: Mapping[str, Door] = {
    "/v1/chat/completions": _OPENAI,
    "/v1/completions": _OPENAI,
    "/v1/embeddings": _OPENAI,
    RESPONSES: Door(create_response),
    MESSAGES: Door(create_message, anthropic_error_response),
}


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
        if _proxied(scope):
            await self.answer_proxied(scope, receive, send)
        else:
            await self._front(scope, receive, send)

    def proxied_entry(self) -> ASGIApp:
        """What a server that tells the proxied requests apart itself (:mod:`.http_protocol`) calls for
        them, instead of ``__call__``."""
        return self.answer_proxied

    async def answer_proxied(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a POST to one of the :data:`DOORS` (the caller has checked that it is one)."""
        # The request id is set here rather than by the middleware: the answer's one send wrapper (the
        # observer's) adds its header, instead of a second wrapper around every message.
        scope["app"] = self
        request_id = self._front.assign(scope)
        token = current_request_id.set(request_id)
        door = DOORS[scope["path"]]
        try:
            headers = Headers(scope=scope)
            try:
                body = await read_body(receive, self.max_body_bytes, headers.get("content-length"))
                response = await door.answer(
                    services_of(self.state), scope["path"], body, headers, request_id
                )
            except CitadelError as exc:
                response = door.refuse(exc)
                response.headers[REQUEST_ID_HEADER] = request_id
            await response(scope, receive, send)
        except Exception:
            # complete() answers (and logs) a bug in the request path itself; this is the last resort for
            # one in sending the answer. Once the answer has begun, a server refuses a second start (uvicorn
            # with RuntimeError, others with their own) and closes the connection once the app returns.
            logger.exception("unexpected error answering %s (request %s)", scope["path"], request_id)
            response = door.refuse(UnexpectedError(request_id))
            response.headers[REQUEST_ID_HEADER] = request_id
            with contextlib.suppress(Exception):
                await response(scope, receive, send)
        finally:
            current_request_id.reset(token)


def takes(path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the front door answers a POST to ``path``: one of the :data:`DOORS`, from a client that is
    not a browser (no ``Origin``: a browser's request goes through FastAPI, for CORS)."""
    if path not in DOORS:
        return False
    for name, _ in headers:  # noqa: SIM110 (a loop: no generator object on every request)
        if name == b"origin":
            return False
    return True


def _proxied(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and takes(scope["path"], scope["headers"])
