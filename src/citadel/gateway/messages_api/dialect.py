"""One Messages request in the request path: no state to read, its answer told as an Anthropic Message and
its errors in Anthropic's shape."""

from __future__ import annotations

import json
import logging

from citadel.gateway.ids import new_id
from citadel.gateway.messages_api.answer import message_object
from citadel.gateway.messages_api.errors import anthropic_error, translated_error
from citadel.gateway.messages_api.events import MessageEvents
from citadel.gateway.request import ParsedRequest

logger = logging.getLogger(__name__)


class MessagesDialect:
    """:class:`~citadel.gateway.dialect.Dialect` for one request, also its answer's translator."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = new_id("msg")
        self._events = MessageEvents(self._id, model)

    async def prepare(self, parsed: ParsedRequest, key_id: int | None) -> ParsedRequest:
        return parsed

    def translator(self) -> MessagesDialect:
        return self

    async def whole(self, status: int, content: bytes) -> tuple[int, bytes]:
        if status != 200:
            return status, translated_error(status, content)
        try:
            message = message_object(self._id, self._model, json.loads(content))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            logger.warning("a chat answer without a message could not be told as an Anthropic Message")
            return 502, json.dumps(anthropic_error(502, "The model's answer could not be read.")).encode()
        return 200, json.dumps(message).encode()

    def events(self, data: bytes) -> bytes:
        return self._events.events(data)

    async def end(self) -> bytes:
        return self._events.end()
