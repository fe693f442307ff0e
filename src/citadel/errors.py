"""Citadel's exception tree and the one table that turns it into OpenAI-shaped error JSON.

    CitadelError                      500 server_error
    ├── EngineError                   500 server_error / engine_error
    ├── UnexpectedError               500 server_error / internal_error (a bug; logged with the request id)
    ├── InvalidRequest                400 invalid_request_error
    │   └── ContextLengthExceeded     400 invalid_request_error / context_length_exceeded
    ├── BodyTooLarge                  413 invalid_request_error / request_too_large
    ├── ModelNotFound                 404 invalid_request_error / model_not_found
    ├── ServiceUnavailable            503 service_unavailable
    │   ├── QueueFull                 503 service_unavailable / queue_full (Retry-After: 1)
    │   ├── UpstreamUnreachable       503 service_unavailable / model_unreachable
    │   ├── VectorStoreUnavailable    503 service_unavailable / vector_store_unavailable
    │   └── EmbeddingUnavailable      503 service_unavailable / embedding_unavailable
    ├── UpstreamFailed                502 server_error / upstream_failed
    ├── UpstreamTimeout               504 timeout / upstream_timeout
    ├── NotFound                      404 invalid_request_error / not_found
    │   └── CollectionNotFound        404 invalid_request_error / collection_not_found
    ├── Conflict                      409 invalid_request_error / conflict (e.g. feedback given twice)
    ├── AuthenticationError           401 authentication_error / invalid_api_key
    ├── PermissionDenied              403 permission_error
    ├── RateLimited                   429 rate_limit_error / rate_limit_exceeded (Retry-After, x-ratelimit-*)
    └── QuotaExceeded                 429 insufficient_quota / insufficient_quota

The gateway and the model and embedding services install :func:`install_error_handlers`, so every error a
client sees has the shape ``{"error": {"message", "type", "param", "code"}}``; an exception outside the tree
(a bug) becomes an :class:`UnexpectedError` 500 there, logged once with its traceback (never the body).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class CitadelError(Exception):
    """Base of every error a client may see; subclasses fix the status and type."""

    status_code: int = 500
    error_type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after_s = retry_after_s
        if code is not None:
            self.code = code

    extra_headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str] | None:
        headers = dict(self.extra_headers or {})
        if self.retry_after_s is not None:
            headers["retry-after"] = str(self.retry_after_s)
        return headers or None


class EngineError(CitadelError):
    """The inference engine could not run a request."""

    code = "engine_error"


class InvalidRequest(CitadelError):
    status_code = 400
    error_type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class BodyTooLarge(CitadelError):
    """A request body over the server's bound (``gateway.max_body_bytes``); refused before it is read."""

    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the {limit} bytes this server accepts.")


class UnexpectedError(CitadelError):
    """What a client sees of a bug: a 500 naming the request id, under which the traceback was logged."""

    code = "internal_error"

    def __init__(self, request_id: str | None) -> None:
        where = f" (request id {request_id})" if request_id else ""
        super().__init__(f"The server had an error while processing your request{where}; it has been logged.")


class ModelNotFound(CitadelError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class ServiceUnavailable(CitadelError):
    status_code = 503
    error_type = "service_unavailable"


class QueueFull(ServiceUnavailable):
    """A model service's waiting queue is at its bound; the client should retry shortly."""

    code = "queue_full"

    def __init__(self, bound: int) -> None:
        super().__init__(
            f"The model's queue is full ({bound} requests waiting); retry shortly.", retry_after_s=1
        )


class UpstreamUnreachable(ServiceUnavailable):
    code = "model_unreachable"


class VectorStoreUnavailable(ServiceUnavailable):
    """Qdrant could not be reached (or its local-mode folder is held by another process)."""

    code = "vector_store_unavailable"


class EmbeddingUnavailable(ServiceUnavailable):
    """The embedding model service that embeds texts for the vector store could not answer."""

    code = "embedding_unavailable"


class UpstreamFailed(CitadelError):
    """The upstream broke off its answer (disconnected, malformed) and no other replica could answer."""

    status_code = 502
    error_type = "server_error"
    code = "upstream_failed"


class UpstreamTimeout(CitadelError):
    status_code = 504
    error_type = "timeout"
    code = "upstream_timeout"


class NotFound(CitadelError):
    """An admin API object (e.g. an API key) that does not exist."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class CollectionNotFound(NotFound):
    """A vector collection that is not configured (``vectors.collections``)."""

    code = "collection_not_found"


class Conflict(CitadelError):
    """The request repeats something that may happen once (feedback for a request already rated)."""

    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class AuthenticationError(CitadelError):
    """Missing, unknown, revoked or expired API key."""

    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(CitadelError):
    """A valid key that may not do this (a model it is not allowed, the admin API with a normal key)."""

    status_code = 403
    error_type = "permission_error"


class RateLimited(CitadelError):
    """Over a rate limit: ``retry_after_s`` and the ``x-ratelimit-*`` headers say when to retry."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.extra_headers = headers


class QuotaExceeded(CitadelError):
    """The key spent its budget for the period (OpenAI's ``insufficient_quota``)."""

    status_code = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, dict[str, str | None]]:
    """OpenAI's error JSON."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: CitadelError) -> JSONResponse:
    return JSONResponse(
        error_body(error.message, error.error_type, error.param, error.code),
        status_code=error.status_code,
        headers=error.headers,
    )


def _type_for_status(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    return "invalid_request_error" if status < 500 else "server_error"


async def _citadel_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CitadelError)
    if exc.status_code >= 500:
        logger.warning("%s: %s", type(exc).__name__, exc.message)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI says 422; OpenAI and vLLM say 400 for a request that does not validate.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return JSONResponse(
        error_body(message, _type_for_status(exc.status_code)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


RequestIdSource = Callable[[], str | None]


class UnexpectedErrorGuard:
    """Plain ASGI middleware: an exception that escaped the handler table becomes an OpenAI-shaped 500
    carrying the request id, and is logged here once with its traceback.

    Starlette's own last resort answers plain text and re-raises, so the server logs the same traceback a
    second time, without the request id. Once an answer has begun it cannot be replaced: the error is
    logged and the server closes the connection.
    """

    def __init__(self, app: ASGIApp, request_id: RequestIdSource | None = None) -> None:
        self.app = app
        self._request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            request_id = self._id(scope)
            logger.exception(
                "unexpected error answering %s %s (request %s)", scope["method"], scope["path"], request_id
            )
            if started:
                return
            response = error_response(UnexpectedError(request_id))
            response.headers.setdefault("x-request-id", request_id)
            await response(scope, receive, send)

    def _id(self, scope: Scope) -> str:
        """The request's id: the app's own, else the caller's ``x-request-id``, else a new one."""
        known = self._request_id() if self._request_id is not None else None
        if known:
            return known
        given = Headers(scope=scope).get("x-request-id", "")
        return given if 0 < len(given) <= 128 else secrets.token_hex(16)


def install_error_handlers(app: FastAPI, *, request_id: RequestIdSource | None = None) -> None:
    """Register the one exception table on ``app``, and the last resort for anything outside it.

    Call it after adding the app's other middleware, so that the guard is outside them all.
    ``request_id`` gives the id the app assigned to the current request, if it assigns them.
    """
    app.add_exception_handler(CitadelError, _citadel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UnexpectedErrorGuard, request_id=request_id)
