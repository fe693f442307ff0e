"""Stored responses of the Responses API: the answer as returned, and the conversation it ends.

A row holds the chat messages of the whole conversation up to and including the response's own output
(its instructions excepted: OpenAI does not carry them over), so that a request naming it as
``previous_response_id`` reads one row, not a chain. Rows belong to the API key that created them
(``key_id``; null when auth is off or for the admin key); the gateway checks that before answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.tables import metadata
from citadel.store.types import UTCDateTime

responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_id", Integer, nullable=True),
    Column("model", String(200), nullable=False),
    Column("previous_response_id", String(64), nullable=True),
    Column("conversation", JSON, nullable=False),  # chat messages, oldest first
    Column("response", JSON, nullable=False),  # the Response object as the client got it
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_responses_created_at", "created_at"),
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    key_id: int | None
    model: str
    previous_response_id: str | None
    conversation: list[dict[str, Any]]
    response: dict[str, Any]
    created_at: datetime


async def insert_response(connection: AsyncConnection, stored: StoredResponse) -> None:
    await connection.execute(
        insert(responses).values(
            id=stored.id,
            key_id=stored.key_id,
            model=stored.model,
            previous_response_id=stored.previous_response_id,
            conversation=stored.conversation,
            response=stored.response,
            created_at=stored.created_at,
        )
    )


async def find_response(connection: AsyncConnection, response_id: str) -> StoredResponse | None:
    row = (await connection.execute(select(responses).where(responses.c.id == response_id))).first()
    if row is None:
        return None
    return StoredResponse(
        id=row.id,
        key_id=row.key_id,
        model=row.model,
        previous_response_id=row.previous_response_id,
        conversation=list(row.conversation),
        response=dict(row.response),
        created_at=row.created_at,
    )


async def delete_response(connection: AsyncConnection, response_id: str) -> bool:
    """Whether a row was deleted."""
    result = await connection.execute(delete(responses).where(responses.c.id == response_id))
    return result.rowcount > 0
