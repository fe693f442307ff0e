"""Stored responses on SQLite and PostgreSQL: a conversation's messages and the Response object read back as
written, only by the key that stored them, and gone once deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from citadel.config.sections import DatabaseSettings
from citadel.errors import NotFound
from citadel.gateway.responses_api.state import Conversations
from citadel.store import open_database
from citadel.store.responses import StoredResponse
from citadel.store.types import utcnow
from tests.governance.conftest import _fresh, postgres  # noqa: F401 (a fixture)
from tests.governance.servers import PostgresServer

pytestmark = pytest.mark.timeout(120)

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city": "Zürich"}'},
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Wetter in Zürich? 🌦"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "12 °C"},
]


@pytest.fixture(params=["sqlite", "postgres"])
async def conversations(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Conversations]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'citadel.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = _fresh(server, server.port)
    database = await open_database(DatabaseSettings(url=url))
    try:
        yield Conversations(database)
    finally:
        await database.aclose()


async def test_a_stored_response_reads_back_for_its_key_only(conversations: Conversations) -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "output": [{"type": "message", "content": []}],
        "usage": None,
    }
    stored = StoredResponse("resp_1", 7, "m", None, CONVERSATION, response, utcnow())
    await conversations.save(stored)
    assert await conversations.history("resp_1", 7) == CONVERSATION
    assert (await conversations.find("resp_1", 7)).response == response
    for other in (8, None):
        with pytest.raises(NotFound):
            await conversations.find("resp_1", other)
        with pytest.raises(NotFound):
            await conversations.delete("resp_1", other)
    await conversations.delete("resp_1", 7)
    with pytest.raises(NotFound) as missing:
        await conversations.history("resp_1", 7)
    assert missing.value.param == "previous_response_id"
