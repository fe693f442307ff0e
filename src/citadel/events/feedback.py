"""Feedback on one answered request: checked, stored, published to ``user_feedback``.

The request must be in the request log under the caller's key (the request log is written in batches a few
milliseconds after the answer: feedback sent at once after an answer may find it not yet there, and gets
404 ``request_not_found``; the admin key may rate any request). One feedback per request (409).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from citadel.errors import Conflict, NotFound
from citadel.events.gateway import GatewayEvents
from citadel.events.schema import FEEDBACK_SUBMITTED, Event
from citadel.governance.admission import Principal
from citadel.store.database import Database
from citadel.store.event_rows import insert_feedback, request_owner
from citadel.store.types import utcnow


class FeedbackIn(BaseModel):
    """``POST /v1/feedback``'s body."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    request_id: str = Field(min_length=1, max_length=128, description="The x-request-id of the answer rated.")
    rating: int = Field(ge=1, le=5, description="1 (useless) to 5 (excellent).")
    accuracy: float | None = Field(default=None, ge=0, le=1, description="How accurate the answer was, 0-1.")
    helpful: bool | None = None
    business_value: float | None = Field(
        default=None, ge=0, le=1e12, description="What the answer was worth, in events.currency."
    )
    comment: str | None = Field(default=None, max_length=4000)


class FeedbackOut(BaseModel):
    object: str = "feedback"
    request_id: str
    model: str
    rating: int
    accuracy: float | None
    helpful: bool | None
    business_value: float | None
    currency: str
    created_at: str


async def submit_feedback(
    database: Database,
    events: GatewayEvents | None,
    principal: Principal,
    body: FeedbackIn,
    currency: str,
) -> FeedbackOut:
    """Store ``body`` for the caller; raises NotFound (404) or Conflict (409)."""
    created = utcnow()
    async with database.transaction() as connection:
        found, key_id, model = await request_owner(connection, body.request_id)
        if not found or (principal.kind != "admin" and key_id != principal.key_id):
            raise NotFound(
                f"No request {body.request_id!r} made with this API key (yet: the request log is written "
                "a moment after the answer).",
                param="request_id",
                code="request_not_found",
            )
        row: dict[str, Any] = body.model_dump() | {"key_id": key_id, "model": model, "created_at": created}
        if not await insert_feedback(connection, row):
            raise Conflict(
                f"Request {body.request_id!r} has feedback already.",
                param="request_id",
                code="feedback_exists",
            )
    if events is not None:
        data = body.model_dump(exclude={"comment"}) | {"key_id": key_id, "model": model, "currency": currency}
        events.publisher.publish(
            events.topics.feedback.name, Event.new(FEEDBACK_SUBMITTED, body.request_id, data)
        )
    return FeedbackOut(
        request_id=body.request_id,
        model=model,
        rating=body.rating,
        accuracy=body.accuracy,
        helpful=body.helpful,
        business_value=body.business_value,
        currency=currency,
        created_at=created.isoformat(),
    )
