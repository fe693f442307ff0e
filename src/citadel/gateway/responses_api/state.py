"""Conversation state of the Responses API, kept in the gateway's database (the request log's).

A stored response is read back only with the API key that created it: another key gets the 404 an unknown
id gets, so ids cannot be probed. Writes happen on the request's own task before its last event goes out,
so that a ``previous_response_id`` sent right after the answer finds it.
"""

from __future__ import annotations

from typing import Any

from citadel.errors import NotFound
from citadel.store.database import Database
from citadel.store.responses import StoredResponse, delete_response, find_response, insert_response


class Conversations:
    """The stored responses in ``database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def find(self, response_id: str, key_id: int | None, *, param: str | None = None) -> StoredResponse:
        """The key's stored response ``response_id``; 404 when there is none (or it is another key's)."""
        async with self._database.transaction() as connection:
            stored = await find_response(connection, response_id)
        if stored is None or stored.key_id != key_id:
            raise NotFound(
                f"Response with id '{response_id}' not found.", param=param, code="response_not_found"
            )
        return stored

    async def history(self, response_id: str, key_id: int | None) -> list[dict[str, Any]]:
        """The conversation a new turn continues (for ``previous_response_id``)."""
        stored = await self.find(response_id, key_id, param="previous_response_id")
        return stored.conversation

    async def save(self, stored: StoredResponse) -> None:
        async with self._database.transaction() as connection:
            await insert_response(connection, stored)

    async def delete(self, response_id: str, key_id: int | None) -> None:
        await self.find(response_id, key_id)
        async with self._database.transaction() as connection:
            await delete_response(connection, response_id)
