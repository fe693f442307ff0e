"""Request bodies read within a bound and JSON decoded without surprises, for every Citadel service.

Python's ``json.loads`` accepts more than an API should, and some of it crashes later, far from the input:
nesting deep enough to raise ``RecursionError`` (here, or in any code that walks the value), lone
surrogates (``"\\ud800"``) that no UTF-8 encoder will write (the tokenizer, the request log), ``NaN`` and
``Infinity`` literals, ``1e999`` (infinity again) and integers too long to convert. :func:`decode_json`
refuses all of them with a :class:`~citadel.errors.InvalidRequest` (400); :func:`read_body` refuses a body
larger than its bound with :class:`~citadel.errors.BodyTooLarge` (413) without reading the rest.

    >>> decode_json(b'{"model": "m", "temperature": 0.5}')
    {'model': 'm', 'temperature': 0.5}
    >>> decode_json(b'{"temperature": NaN}')
    Traceback (most recent call last):
    citadel.errors.InvalidRequest: The request body is not valid JSON: NaN is not a number JSON allows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citadel.config import CitadelSettings
from citadel.errors import BodyTooLarge, CitadelError, InvalidRequest, error_response

__all__ = ["MAX_DEPTH", "BodyGuard", "body_limit", "decode_json", "gateway_body_limit", "read_body"]

MAX_DEPTH = 64  # no OpenAI request nests nearly this deep; far below the interpreter's recursion limit
_MIN_BODY_BYTES = 1 << 20
_BYTES_PER_TOKEN = 32  # generous: JSON-escaped text takes at most ~6 bytes per character
_INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what a C engine's int64/uint64 parameters hold
_MAX_INT_DIGITS = 20
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONG_DIGITS = re.compile(rb"\d{19}")


def body_limit(max_context_tokens: int) -> int:
    """The default largest body for a context window of ``max_context_tokens``: 32 bytes per token, at
    least 1 MiB. ``gateway.max_body_bytes`` (None) and the model services take their bound from here."""
    return max(_MIN_BODY_BYTES, max_context_tokens * _BYTES_PER_TOKEN)


def gateway_body_limit(settings: CitadelSettings) -> int:
    """``gateway.max_body_bytes``, or by default room for the longest configured context window."""
    if settings.gateway.max_body_bytes is not None:
        return settings.gateway.max_body_bytes
    return body_limit(max((model.limits.max_model_len for model in settings.models), default=0))


async def read_body(receive: Receive, limit: int, content_length: str | None = None) -> bytes:
    """The whole body from ASGI ``receive``, or :class:`BodyTooLarge` as soon as it passes ``limit`` bytes
    (before any is read when ``content_length`` already says so)."""
    if content_length is not None:
        check_content_length(content_length, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def check_content_length(value: str, limit: int) -> None:
    """A declared length over ``limit`` is a 413 before anything is read; a malformed one a 400."""
    if not value.strip().isdigit():
        raise InvalidRequest("Content-Length is not a number.", param="content-length")
    if int(value) > limit:
        raise BodyTooLarge(limit)


def decode_json(raw: bytes) -> Any:
    """``raw`` as a JSON value, or :class:`InvalidRequest` naming what is wrong with it."""
    # orjson first (several times faster on the hot path); it refuses what the checks below refuse, except
    # integers beyond 64 bits, which it reads as floats, so a body with a long run of digits goes the slow
    # way. Whatever orjson refuses is decoded again below, for the precise message.
    if not _LONG_DIGITS.search(raw):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            return _checked(raw, value)
    return _checked(raw, _decode_slowly(raw))


def _decode_slowly(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).") from exc
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise _too_deep() from exc
    except _Refused as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    return value


def _checked(raw: bytes, value: Any) -> Any:
    # Cheap tests first (C speed over the bytes); the walks run only when they cannot rule a problem out.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        _check_depth(value)
    if _SURROGATE_ESCAPE.search(raw):
        _check_strings(value)
    return value


class _Refused(ValueError):
    """A JSON token the decoder refuses; becomes the 400's message."""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows.")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise _Refused(f"the number {literal[:32]} is out of range.")
    return number


def _bounded_int(literal: str) -> int:
    digits = literal.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS or not _INT_RANGE[0] <= int(literal) <= _INT_RANGE[1]:
        raise _Refused(f"the integer {literal[:32]}{'…' if len(literal) > 32 else ''} is out of range.")
    return int(literal)


def _too_deep() -> InvalidRequest:
    return InvalidRequest(f"The request body nests deeper than {MAX_DEPTH} levels.")


def _children(value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        return ((str(key), item) for key, item in value.items())
    if isinstance(value, list):
        return ((str(index), item) for index, item in enumerate(value))
    return ()


def _check_depth(value: Any) -> None:
    # Iterative, so that checking cannot itself run out of stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            stack.extend((child, depth + 1) for _, child in _children(node))


def _check_strings(value: Any) -> None:
    """Every key and string must be writable as UTF-8: a lone surrogate (``\\ud800``) is not."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in node:
                _check_text(key, path or None)
        if isinstance(node, str):
            _check_text(node, path or None)
        for name, child in _children(node):
            stack.append((child, f"{path}.{name}" if path else name))


def _check_text(text: str, param: str | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"The request body contains a lone UTF-16 surrogate (\\u{ord(text[exc.start]):04x})"
            f"{f' in {param}' if param else ''}; text must be valid Unicode.",
            param=param,
        ) from exc


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyGuard:
    """Plain ASGI middleware in front of FastAPI's routes: a body over ``limit`` bytes gets 413 unread, and a
    JSON body :func:`decode_json` refuses gets 400, before a route parses it with the stock decoder.

    The checked body is handed on unchanged; the route's own parse of it can then no longer crash.
    ``refuse`` renders a refusal for the request's path (default: OpenAI's error JSON).
    """

    def __init__(self, app: ASGIApp, limit: int, refuse: Refusal | None = None) -> None:
        self.app = app
        self.limit = limit
        self._refuse = refuse or _openai_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            body = await read_body(receive, self.limit, headers.get("content-length"))
            content_type = headers.get("content-type", "")
            if body and (not content_type or "json" in content_type):
                decode_json(body)
        except CitadelError as exc:
            await self._refuse(scope["path"], exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


Refusal = Callable[[str, CitadelError], Response]


def _openai_refusal(_path: str, error: CitadelError) -> Response:
    return error_response(error)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then waits on the real one (for the disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
