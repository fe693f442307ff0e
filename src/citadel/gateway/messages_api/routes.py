"""``POST /v1/messages`` (through the request path) and ``POST /v1/messages/count_tokens``.

Anthropic's clients send their key as ``x-api-key``; it is read as ``Authorization: Bearer`` would be
(an ``Authorization`` header, when both are sent, wins). Every error on these routes is in Anthropic's shape.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, Response

from citadel.errors import CitadelError
from citadel.gateway.messages_api.count_tokens import count_tokens
from citadel.gateway.messages_api.dialect import MessagesDialect
from citadel.gateway.messages_api.errors import anthropic_error_response
from citadel.gateway.messages_api.request import parse_messages_request
from citadel.gateway.request_path import complete
from citadel.gateway.services import GatewayServices, request_services

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"

router = APIRouter()


def with_api_key(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with ``x-api-key`` as the ``Authorization`` the governance reads."""
    key = headers.get("x-api-key")
    if not key or headers.get("authorization"):
        return headers
    return {**{name.lower(): value for name, value in headers.items()}, "authorization": f"Bearer {key}"}


async def create_message(
    services: GatewayServices,
    endpoint: str,
    raw: bytes,
    headers: Mapping[str, str],
    request_id: str | None = None,
) -> Response:
    """The answer to one Messages request: translated to chat completions and sent down the request path
    (keys, limits, budgets, the cache, the request log and metrics, as for any request)."""
    request = parse_messages_request(raw)
    dialect = MessagesDialect(request.model)
    return await complete(
        services, endpoint, request.chat_bytes(), with_api_key(headers), request_id, dialect=dialect
    )


@router.post(MESSAGES)
async def messages(request: Request) -> Response:
    """Anthropic's Messages API, translated to chat completions of ``model``. Reached only by requests with
    an Origin header (CORS); the rest are answered by the gateway's fast path."""
    try:
        return await create_message(
            request_services(request), MESSAGES, await request.body(), request.headers
        )
    except CitadelError as exc:
        return anthropic_error_response(exc)


@router.post(COUNT_TOKENS)
async def messages_count_tokens(request: Request) -> Response:
    """The number of tokens a Messages request's prompt takes (``{"input_tokens": n}``)."""
    try:
        return await count_tokens(
            request_services(request), await request.body(), with_api_key(request.headers)
        )
    except CitadelError as exc:
        return anthropic_error_response(exc)
