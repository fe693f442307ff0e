"""One SERVER span per HTTP request, as plain ASGI middleware (HTTP and GenAI semantic conventions).

The span is a child of the caller's W3C ``traceparent`` when one is sent, so a gateway's span and a model
service's spans form one trace. It records the method, path, status (a 5xx is an error), the endpoint's
``gen_ai.operation.name``, the time to the first body chunk and, where the app names the model that
answered in a response header (the gateway's ``x-citadel-model``), ``gen_ai.response.model``.

Apps install it only when tracing is configured; even then paths such as ``/health`` pass untouched.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citadel.tracing import semconv
from citadel.tracing.provider import Tracing
from citadel.tracing.tracer import Attributes


class ServerSpans:
    """Wraps ``app`` so that each HTTP request not in ``exclude_paths`` runs inside its server span."""

    def __init__(
        self,
        app: ASGIApp,
        tracing: Tracing,
        *,
        exclude_paths: Collection[str] = (),
        response_model_header: bytes | None = None,
    ) -> None:
        self.app = app
        self._tracing = tracing
        self._exclude = frozenset(exclude_paths)
        self._model_header = response_model_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = self._tracing.tracer
        if scope["type"] != "http" or not tracer.enabled or scope["path"] in self._exclude:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        attributes: dict[str, str] = {semconv.HTTP_REQUEST_METHOD: method, semconv.URL_PATH: path}
        operation = semconv.OPERATION_BY_PATH.get(path)
        if operation is not None:
            attributes[semconv.GEN_AI_OPERATION_NAME] = operation
        started = time.perf_counter()
        with tracer.server_span(f"{method} {path}", scope["headers"], attributes) as span:
            first_chunk_seen = False

            async def traced_send(message: Message) -> None:
                nonlocal first_chunk_seen
                if message["type"] == "http.response.start":
                    span.set_attributes(self._response_attributes(message))
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                elif not first_chunk_seen and message["type"] == "http.response.body" and message.get("body"):
                    first_chunk_seen = True
                    elapsed = time.perf_counter() - started
                    span.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, elapsed)
                await send(message)

            await self.app(scope, receive, traced_send)

    def _response_attributes(self, start: Message) -> Attributes:
        status: int = start["status"]
        attributes: dict[str, str | int] = {semconv.HTTP_RESPONSE_STATUS_CODE: status}
        if status >= 500:
            attributes[semconv.ERROR_TYPE] = str(status)
        if self._model_header is not None:
            for name, value in start.get("headers", ()):
                if name == self._model_header:
                    attributes[semconv.GEN_AI_RESPONSE_MODEL] = value.decode("latin-1")
        return attributes
