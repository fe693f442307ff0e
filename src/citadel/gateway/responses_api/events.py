"""A chat completion stream, told as the Responses API's events.

    response.created, response.in_progress
    response.output_item.added (message), response.content_part.added, response.output_text.delta ...,
        response.output_text.done, response.content_part.done, response.output_item.done
    response.output_item.added (function_call), response.function_call_arguments.delta ...,
        response.function_call_arguments.done, response.output_item.done
    response.completed (or response.incomplete; error and response.failed when the stream broke off)

Items are told one after another, as chat streams send them (text, then each tool call by index). Every
event carries a ``sequence_number``. :meth:`ResponseEvents.end` awaits ``on_done`` (which stores the
response) before the closing event, so that the answer is stored once the client has read it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from citadel.gateway.ids import new_id
from citadel.gateway.responses_api.answer import response_object
from citadel.gateway.responses_api.items import (
    assistant_message,
    call_item,
    message_item,
    output_text,
)
from citadel.gateway.responses_api.request import ResponsesRequest
from citadel.gateway.sse import DONE, SseReader, sse_event

# Given the finished Response object and the chat message it adds to the conversation.
OnDone = Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]]


class _Item:
    """The output item being told: a message (``call`` None) or a function call."""

    __slots__ = ("arguments", "call", "id", "name", "output_index", "text")

    def __init__(self, output_index: int, call: str | None = None, name: str = "") -> None:
        self.output_index = output_index
        self.id = new_id("fc" if call is not None else "msg")
        self.call = call
        self.name = name
        self.text = ""
        self.arguments = ""

    def done(self) -> dict[str, Any]:
        if self.call is None:
            return message_item(self.text, item=self.id)
        return call_item(self.call, self.name, self.arguments, item=self.id)


class ResponseEvents:
    """Translates one chat stream; ``events`` for each piece, ``end`` once."""

    def __init__(self, request: ResponsesRequest, response_id: str, created_at: int, on_done: OnDone) -> None:
        self._request = request
        self._id = response_id
        self._created_at = created_at
        self._on_done = on_done
        self._reader = SseReader()
        self._sequence = 0
        self._started = False
        self._items: list[dict[str, Any]] = []  # finished output items
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}  # chat's tool call index → its item
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._failed = False

    def events(self, data: bytes) -> bytes:
        return b"".join(self._on(value) for value in self._reader.feed(data))

    async def end(self) -> bytes:
        out = [self._on(value) for value in self._reader.flush()]
        if self._failed:
            return b"".join(out)
        out.append(self._start())
        out.append(self._close())
        final = self._response("completed")
        await self._on_done(final, self._message())
        name = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(self._event(name, {"response": final}))
        return b"".join(out)

    def _on(self, value: Any) -> bytes:
        if value is DONE or not isinstance(value, dict) or self._failed:
            return b""
        if isinstance(value.get("error"), dict):
            return self._fail(value["error"])
        out = [self._start()]
        if isinstance(value.get("usage"), dict):
            self._usage = value["usage"]
        for choice in value.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(self._text(delta["content"]))
            for call in delta.get("tool_calls") or ():
                out.append(self._call(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return b"".join(out)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        response = self._response("in_progress")
        return self._event("response.created", {"response": response}) + self._event(
            "response.in_progress", {"response": response}
        )

    def _text(self, text: str) -> bytes:
        out = b""
        item = self._open
        if item is None or item.call is not None:
            out = self._close()
            item = self._open = _Item(len(self._items))
            out += self._event(
                "response.output_item.added",
                {"output_index": item.output_index, "item": message_item("", done=False, item=item.id)},
            )
            out += self._event(
                "response.content_part.added",
                {**self._where(item), "content_index": 0, "part": output_text("")},
            )
        item.text += text
        return out + self._event(
            "response.output_text.delta",
            {**self._where(item), "content_index": 0, "delta": text, "logprobs": []},
        )

    def _call(self, call: Any) -> bytes:
        if not isinstance(call, dict):
            return b""
        index = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        item = self._calls.get(index)
        if item is None:
            out = self._close()
            item = self._open = self._calls[index] = _Item(
                len(self._items), call.get("id") or new_id("call"), function.get("name") or ""
            )
            added = call_item(item.call or "", item.name, "", done=False, item=item.id)
            out += self._event(
                "response.output_item.added", {"output_index": item.output_index, "item": added}
            )
        arguments = function.get("arguments") or ""
        if arguments:
            item.arguments += arguments
            out += self._event(
                "response.function_call_arguments.delta", {**self._where(item), "delta": arguments}
            )
        return out

    def _close(self) -> bytes:
        """Finish the open item, if any."""
        item, self._open = self._open, None
        if item is None:
            return b""
        where = self._where(item)
        if item.call is None:
            out = self._event(
                "response.output_text.done", {**where, "content_index": 0, "text": item.text, "logprobs": []}
            )
            out += self._event(
                "response.content_part.done", {**where, "content_index": 0, "part": output_text(item.text)}
            )
        else:
            out = self._event(
                "response.function_call_arguments.done",
                {**where, "arguments": item.arguments, "name": item.name},
            )
        done = item.done()
        self._items.append(done)
        return out + self._event(
            "response.output_item.done", {"output_index": item.output_index, "item": done}
        )

    def _fail(self, error: dict[str, Any]) -> bytes:
        self._failed = True
        message = str(error.get("message") or "The model's stream broke off.")
        code = error.get("code") or error.get("type") or "server_error"
        out = self._start() + self._close()
        out += self._event("error", {"code": code, "message": message, "param": error.get("param")})
        failed = self._response("failed", error={"code": code, "message": message})
        return out + self._event("response.failed", {"response": failed})

    def _message(self) -> dict[str, Any]:
        text = "".join(item["content"][0]["text"] for item in self._items if item["type"] == "message")
        calls = [
            {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            for item in self._items
            if item["type"] == "function_call"
        ]
        return assistant_message(text, calls)

    def _response(self, status: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
        return response_object(
            self._request,
            self._id,
            self._created_at,
            list(self._items),
            status=status,
            finish_reason=self._finish_reason,
            chat_usage=self._usage,
            error=error,
        )

    @staticmethod
    def _where(item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.output_index}

    def _event(self, name: str, data: dict[str, Any]) -> bytes:
        event = sse_event(name, {"type": name, "sequence_number": self._sequence, **data})
        self._sequence += 1
        return event
