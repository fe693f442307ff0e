"""Errors in Anthropic's shape on the Messages routes: ``{"type": "error", "error": {"type", "message"}}``.

The status stays the gateway's; the type is Anthropic's name for it (``overloaded_error`` for a 503, as
Anthropic names its own 529).

    >>> anthropic_error(404, "no such model")
    {'type': 'error', 'error': {'type': 'not_found_error', 'message': 'no such model'}}
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from citadel.errors import CitadelError, error_response

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def anthropic_error_response(error: CitadelError) -> JSONResponse:
    """A Citadel error, as the Messages routes answer it (with its headers: Retry-After, rate limits)."""
    return JSONResponse(
        anthropic_error(error.status_code, error.message),
        status_code=error.status_code,
        headers=error.headers,
    )


def refusal_for_path(path: str, error: CitadelError) -> Response:
    """A refusal before any route ran (a body too large, or not JSON): Anthropic's shape on the Messages
    routes, OpenAI's elsewhere."""
    if path.startswith("/v1/messages"):
        return anthropic_error_response(error)
    return error_response(error)


def translated_error(status: int, content: bytes) -> bytes:
    """An OpenAI-shaped error body (the request path's, or an upstream's) in Anthropic's shape."""
    message = "The server could not answer."
    try:
        parsed = json.loads(content)
        found = parsed["error"]["message"] if isinstance(parsed, dict) else None
        if isinstance(found, str) and found:
            message = found
    except (ValueError, KeyError, TypeError):
        pass  # not OpenAI's shape: the generic message says what the client can act on
    return json.dumps(anthropic_error(status, message)).encode()
