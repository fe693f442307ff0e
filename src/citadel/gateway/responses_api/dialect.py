"""One Responses API request in the request path: its conversation read once the key is known, its answer
told as a Response (stored when ``store`` is on)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from citadel.errors import UpstreamFailed, error_body
from citadel.gateway.ids import new_id
from citadel.gateway.request import ParsedRequest
from citadel.gateway.responses_api.answer import response_object
from citadel.gateway.responses_api.events import ResponseEvents
from citadel.gateway.responses_api.items import assistant_message, output_items
from citadel.gateway.responses_api.request import ResponsesRequest
from citadel.gateway.responses_api.state import Conversations
from citadel.store.responses import StoredResponse
from citadel.store.types import utcnow

logger = logging.getLogger(__name__)


class ResponsesDialect:
    """:class:`~citadel.gateway.dialect.Dialect` for one request, also its answer's translator."""

    def __init__(self, request: ResponsesRequest, conversations: Conversations) -> None:
        self._request = request
        self._conversations = conversations
        self._history: list[dict[str, Any]] = []
        self._key_id: int | None = None
        self._id = new_id("resp")
        self._created_at = int(time.time())
        self._stream: ResponseEvents | None = None

    async def prepare(self, parsed: ParsedRequest, key_id: int | None) -> ParsedRequest:
        self._key_id = key_id
        previous = self._request.previous_response_id
        if previous is None:
            return parsed
        self._history = await self._conversations.history(previous, key_id)
        return parsed.with_body(self._request.chat_body(self._history))

    def translator(self) -> ResponsesDialect:
        return self

    async def whole(self, status: int, content: bytes) -> tuple[int, bytes]:
        if status != 200:
            return status, content  # OpenAI's error shape is the Responses API's too
        try:
            chat = json.loads(content)
            choice = chat["choices"][0]
            message, finish_reason = choice["message"], choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError):
            logger.warning("a chat answer without a message could not be told as a Response")
            error = UpstreamFailed("The model's answer could not be read.")
            return error.status_code, json.dumps(
                error_body(error.message, error.error_type, code=error.code)
            ).encode()
        response = response_object(
            self._request,
            self._id,
            self._created_at,
            output_items(message),
            finish_reason=finish_reason,
            chat_usage=chat.get("usage"),
        )
        calls = [
            {"id": call.get("id"), "type": "function", "function": call.get("function")}
            for call in message.get("tool_calls") or ()
        ]
        await self._store(response, assistant_message(message.get("content") or "", calls))
        return 200, json.dumps(response).encode()

    def events(self, data: bytes) -> bytes:
        return self._events().events(data)

    async def end(self) -> bytes:
        return await self._events().end()

    def _events(self) -> ResponseEvents:
        if self._stream is None:
            self._stream = ResponseEvents(self._request, self._id, self._created_at, self._store)
        return self._stream

    async def _store(self, response: dict[str, Any], message: dict[str, Any]) -> None:
        request = self._request
        if not request.store:
            return
        await self._conversations.save(
            StoredResponse(
                id=self._id,
                key_id=self._key_id,
                model=request.model,
                previous_response_id=request.previous_response_id,
                conversation=[*self._history, *request.messages, message],
                response=response,
                created_at=utcnow(),
            )
        )
