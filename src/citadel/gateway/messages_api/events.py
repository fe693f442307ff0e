"""A chat completion stream, told as Anthropic's Messages events.

    message_start
    content_block_start (text), content_block_delta (text_delta) ..., content_block_stop
    content_block_start (tool_use), content_block_delta (input_json_delta) ..., content_block_stop
    message_delta (stop_reason, usage), message_stop          — or an ``error`` event if the stream broke off

``message_start`` goes out with the first chunk, before the prompt's token count is known (chat streams give
it last): it says 0, and ``message_delta``'s usage carries both counts.
"""

from __future__ import annotations

from typing import Any

from citadel.gateway.messages_api.answer import stop_reason, usage
from citadel.gateway.messages_api.errors import error_type
from citadel.gateway.sse import DONE, SseReader, sse_event


class MessageEvents:
    def __init__(self, message_id: str, model: str) -> None:
        self._id = message_id
        self._model = model
        self._reader = SseReader()
        self._started = False
        self._block: int | None = None  # the open block's index
        self._block_is_text = False
        self._blocks = 0
        self._calls: dict[int, int] = {}  # chat's tool call index → block index
        self._finish: tuple[str | None, Any] = (None, None)
        self._usage: dict[str, Any] | None = None
        self._failed = False

    def events(self, data: bytes) -> bytes:
        return b"".join(self._on(value) for value in self._reader.feed(data))

    def end(self) -> bytes:
        out = b"".join(self._on(value) for value in self._reader.flush())
        if self._failed:
            return out
        out += self._start() + self._close()
        reason, sequence = stop_reason(*self._finish)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += sse_event(
            "message_delta", {"type": "message_delta", "delta": delta, "usage": usage(self._usage)}
        )
        return out + sse_event("message_stop", {"type": "message_stop"})

    def _on(self, value: Any) -> bytes:
        if value is DONE or not isinstance(value, dict) or self._failed:
            return b""
        error = value.get("error")
        if isinstance(error, dict):
            self._failed = True
            message = str(error.get("message") or "The model's stream broke off.")
            body = {"type": "error", "error": {"type": error_type(500), "message": message}}
            return self._close() + sse_event("error", body)
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
                if isinstance(call, dict):
                    out.append(self._call(call))
            if choice.get("finish_reason"):
                self._finish = (choice["finish_reason"], choice.get("stop_reason"))
        return b"".join(out)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse_event("message_start", {"type": "message_start", "message": message})

    def _open(self, block: dict[str, Any], *, text: bool) -> bytes:
        out = self._close()
        self._block, self._block_is_text = self._blocks, text
        self._blocks += 1
        return out + sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": self._block, "content_block": block},
        )

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        index, self._block = self._block, None
        return sse_event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse_event(
            "content_block_delta", {"type": "content_block_delta", "index": self._block, "delta": delta}
        )

    def _text(self, text: str) -> bytes:
        out = b""
        if self._block is None or not self._block_is_text:
            out = self._open({"type": "text", "text": ""}, text=True)
        return out + self._delta({"type": "text_delta", "text": text})

    def _call(self, call: dict[str, Any]) -> bytes:
        index = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if index not in self._calls:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name") or "",
                "input": {},
            }
            out = self._open(block, text=False)
            self._calls[index] = self._blocks - 1
        arguments = function.get("arguments") or ""
        if arguments and self._block == self._calls[index]:
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
        return out
