"""OpenAI response bodies and SSE chunks for chat and text completions, as vLLM writes them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from citadel.model_service.generation import Delta
from citadel.model_service.service import Outcome

SSE_DONE = "data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"


def usage(outcome: Outcome) -> dict[str, int]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


class ResponseWriter:
    """Writes one request's answer: whole (``body``) or as SSE chunks (``stream``)."""

    def __init__(self, model: str, *, chat: bool) -> None:
        self.model = model
        self.chat = chat
        prefix = "chatcmpl" if chat else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def body(self, text: str, outcome: Outcome) -> dict[str, Any]:
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": outcome.finish_reason,
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": outcome.finish_reason}
        return {
            "id": self.id,
            "object": "chat.completion" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage(outcome),
        }

    async def stream(
        self, deltas: AsyncIterator[Delta], outcome: Outcome, *, include_usage: bool
    ) -> AsyncIterator[str]:
        """SSE chunks; with ``include_usage`` every chunk has ``usage: null`` and a last one carries it."""
        if self.chat:
            yield sse(self._chunk({"role": "assistant", "content": ""}, None, include_usage))
        async for delta in deltas:
            if delta.text or delta.finish_reason is not None:
                content: dict[str, str] | str = delta.text
                if self.chat:
                    content = {"content": delta.text} if delta.text else {}
                yield sse(self._chunk(content, delta.finish_reason, include_usage))
        if include_usage:
            yield sse(self._envelope([], include_usage, usage(outcome)))
        yield SSE_DONE

    def _chunk(
        self, content: dict[str, str] | str, finish_reason: str | None, include_usage: bool
    ) -> dict[str, Any]:
        key = "delta" if self.chat else "text"
        choice = {"index": 0, key: content, "logprobs": None, "finish_reason": finish_reason}
        return self._envelope([choice], include_usage)

    def _envelope(
        self, choices: list[dict[str, Any]], include_usage: bool, usage: dict[str, int] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if include_usage:
            body["usage"] = usage
        return body
