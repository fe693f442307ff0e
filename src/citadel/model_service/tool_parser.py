"""Generated text split into content and ``<tool_call>`` blocks, piece by piece as it streams.

Text that could still be the start of a marker is held back until the next piece decides, and blanks
around the blocks are not content. A block whose JSON does not parse (a model that wrote the marker in
free text, a budget that ran out mid-call) stays content, as written.

>>> parser = ToolCallParser(id_factory=lambda: "call_1")
>>> parser.feed('<tool_ca')
('', [])
>>> parser.feed('ll>\\n{"name": "f", "arguments": {"x": 1}}\\n</tool_call>')
('', [ParsedToolCall(id='call_1', name='f', arguments='{"x": 1}')])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from citadel.model_service.tool_prompt import TOOL_CALL_CLOSE, TOOL_CALL_OPEN


@dataclass(frozen=True, slots=True)
class ParsedToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI returns it

    def as_openai(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ToolCallParser:
    """Feed text as it is generated; get back the content that is safe to show and the finished calls."""

    def __init__(self, id_factory: Callable[[], str] = _new_id) -> None:
        self._new_id = id_factory
        self._held = ""  # a possible start of the opening marker
        self._blank = ""  # blanks after content, shown only if more content follows
        self._block: str | None = None  # inside a block: its text so far
        self.calls = 0
        self._after_call = False

    def feed(self, text: str) -> tuple[str, list[ParsedToolCall]]:
        content: list[str] = []
        calls: list[ParsedToolCall] = []
        buffer, self._held = self._held + text, ""
        while buffer:
            if self._block is None:
                at = buffer.find(TOOL_CALL_OPEN)
                if at >= 0:
                    content.append(self._content(buffer[:at]))
                    self._blank = ""  # blanks before a call are not content
                    self._block, buffer = "", buffer[at + len(TOOL_CALL_OPEN) :]
                    continue
                keep = _marker_prefix_at_end(buffer)
                content.append(self._content(buffer[: len(buffer) - keep]))
                self._held, buffer = buffer[len(buffer) - keep :], ""
            else:
                inside = self._block + buffer
                at = inside.find(TOOL_CALL_CLOSE)
                if at < 0:
                    self._block, buffer = inside, ""
                    continue
                block, buffer = inside[:at], inside[at + len(TOOL_CALL_CLOSE) :]
                self._block = None
                call = self._parse(block)
                if call is None:
                    content.append(self._content(f"{TOOL_CALL_OPEN}{block}{TOOL_CALL_CLOSE}"))
                else:
                    calls.append(call)
        return "".join(content), calls

    def finish(self) -> tuple[str, list[ParsedToolCall]]:
        """What is left when generation ends: held text, and an unclosed block (parsed if it can be)."""
        tail = self._held
        self._held = ""
        calls: list[ParsedToolCall] = []
        if self._block is not None:
            block, self._block = self._block, None
            call = self._parse(block)
            if call is not None:
                calls.append(call)
            else:
                tail = f"{TOOL_CALL_OPEN}{block}{tail}"
        content = self._content(tail) if tail else ""
        if not self.calls:
            content += self._blank  # no calls: trailing blanks are the model's text
        self._blank = ""
        return content, calls

    def _content(self, text: str) -> str:
        """``text`` as content, its trailing blanks kept back until something follows them."""
        combined = self._blank + text
        stripped = combined.rstrip()
        self._blank = combined[len(stripped) :]
        if stripped and self._after_call:  # blanks between a call and the text after it are not content
            stripped, self._after_call = stripped.lstrip(), False
        return stripped

    def _parse(self, block: str) -> ParsedToolCall | None:
        try:
            value = json.loads(block)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return None
        arguments = value.get("arguments", {})
        self.calls += 1
        self._after_call = True
        return ParsedToolCall(self._new_id(), value["name"], json.dumps(arguments, ensure_ascii=False))


def _marker_prefix_at_end(text: str) -> int:
    for length in range(min(len(TOOL_CALL_OPEN) - 1, len(text)), 0, -1):
        if text.endswith(TOOL_CALL_OPEN[:length]):
            return length
    return 0
