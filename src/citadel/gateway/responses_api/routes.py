"""``POST /v1/responses`` (through the request path) and ``GET`` / ``DELETE /v1/responses/{id}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response

from citadel.gateway.request_path import complete
from citadel.gateway.responses_api.dialect import ResponsesDialect
from citadel.gateway.responses_api.request import parse_responses_request
from citadel.gateway.responses_api.state import Conversations
from citadel.gateway.services import GatewayServices, ServicesDep, request_services

RESPONSES = "/v1/responses"

router = APIRouter()


async def create_response(
    services: GatewayServices,
    endpoint: str,
    raw: bytes,
    headers: Mapping[str, str],
    request_id: str | None = None,
) -> Response:
    """The answer to one Responses request: translated to chat completions and sent down the request path
    (keys, limits, budgets, the cache, the request log and metrics, as for any request)."""
    request = parse_responses_request(raw)
    dialect = ResponsesDialect(request, Conversations(services.governance.database))
    return await complete(services, endpoint, request.chat_bytes([]), headers, request_id, dialect=dialect)


@router.post(RESPONSES)
async def responses(request: Request) -> Response:
    """OpenAI's Responses API, translated to chat completions of ``model``. Reached only by requests with
    an Origin header (CORS); the rest are answered by the gateway's fast path."""
    return await create_response(request_services(request), RESPONSES, await request.body(), request.headers)


@router.get(RESPONSES + "/{response_id}")
async def retrieve_response(response_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """A stored response (``store`` was on), to the key that created it."""
    principal = await services.governance.authenticate(request.headers.get("authorization"))
    stored = await Conversations(services.governance.database).find(response_id, principal.key_id)
    return stored.response


@router.delete(RESPONSES + "/{response_id}")
async def delete_response(response_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Forget a stored response; a later ``previous_response_id`` naming it is a 404."""
    principal = await services.governance.authenticate(request.headers.get("authorization"))
    await Conversations(services.governance.database).delete(response_id, principal.key_id)
    return {"id": response_id, "object": "response", "deleted": True}
