"""``POST /v1/feedback``: a user's rating of one answer (with the key that made the request)."""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from citadel.events.feedback import FeedbackIn, FeedbackOut, submit_feedback
from citadel.events.gateway import GatewayEvents
from citadel.gateway.openapi import ErrorResponse
from citadel.governance.service import Governance

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid body: a rating outside 1-5, an accuracy outside 0-1, an unknown field",
        401: "Missing or unknown API key",
        404: "No such request made with this key",
        409: "The request has feedback already",
        413: "Request body larger than gateway.max_body_bytes",
        500: "Server error (carries the request id)",
    }.items()
}


def feedback_router(
    governance_of: Callable[[Request], Governance], events_of: Callable[[Request], GatewayEvents | None]
) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/feedback", status_code=201, response_model=FeedbackOut, responses=_ERRORS)
    async def post_feedback(
        body: FeedbackIn, request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> FeedbackOut:
        """Rate an answer: stored, published to ``user_feedback``, shown in ``citadel usage``."""
        governance = governance_of(request)
        principal = await governance.authenticate(authorization)
        events = events_of(request)
        currency = governance.settings.events.currency
        return await submit_feedback(governance.database, events, principal, body, currency)

    return router
