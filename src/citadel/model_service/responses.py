"""OpenAI response bodies and SSE chunks for chat and text completions, as vLLM writes them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from citadel.errors import CitadelError, error_body
from citadel.model_service.generation import Delta
from citadel.model_service.logprobs import Candidate, TokenLogprob
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


def _text(candidate: Candidate) -> str:
    return candidate.text.decode("utf-8", errors="replace")


def chat_logprobs(entries: list[TokenLogprob]) -> dict[str, Any]:
    """Chat's shape: ``{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}``."""

    def entry(candidate: Candidate) -> dict[str, Any]:
        return {"token": _text(candidate), "logprob": candidate.logprob, "bytes": list(candidate.text)}

    return {
        "content": [{**entry(item.token), "top_logprobs": [entry(c) for c in item.top]} for item in entries]
    }


def completion_logprobs(entries: list[TokenLogprob], offset: int) -> dict[str, Any]:
    """The legacy completions shape: parallel lists, ``text_offset`` counted from ``offset``."""
    offsets = []
    for item in entries:
        offsets.append(offset)
        offset += len(_text(item.token))
    return {
        "tokens": [_text(item.token) for item in entries],
        "token_logprobs": [item.token.logprob for item in entries],
        "top_logprobs": [{_text(c): c.logprob for c in item.top} for item in entries],
        "text_offset": offsets,
    }


class ResponseWriter:
    """Writes one request's answer: whole (``body``) or as SSE chunks (``stream``)."""

    def __init__(self, model: str, *, chat: bool, logprobs: bool) -> None:
        self.model = model
        self.chat = chat
        self.logprobs = logprobs
        prefix = "chatcmpl" if chat else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._text_offset = 0

    def _logprobs(self, deltas: list[Delta]) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        entries = [delta.logprob for delta in deltas if delta.logprob is not None]
        if self.chat:
            return chat_logprobs(entries)
        shaped = completion_logprobs(entries, self._text_offset)
        self._text_offset += sum(len(_text(item.token)) for item in entries)
        return shaped

    def body(self, deltas: list[Delta], outcome: Outcome) -> dict[str, Any]:
        text = "".join(delta.text for delta in deltas)
        logprobs = self._logprobs(deltas)
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
                "finish_reason": outcome.finish_reason,
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": outcome.finish_reason}
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
        """SSE chunks; with ``include_usage`` every chunk has ``usage: null`` and a last one carries it.

        An engine failure after the stream began ends it with an error event, as vLLM does.
        """
        if self.chat:
            yield sse(self._chunk({"role": "assistant", "content": ""}, None, None, include_usage))
        try:
            async for delta in deltas:
                if delta.text or delta.finish_reason is not None or delta.logprob is not None:
                    content: dict[str, str] | str = delta.text
                    if self.chat:
                        content = {"content": delta.text} if delta.text else {}
                    logprobs = self._logprobs([delta])
                    yield sse(self._chunk(content, delta.finish_reason, logprobs, include_usage))
        except CitadelError as exc:
            yield sse(error_body(exc.message, exc.error_type, exc.param, exc.code))
        if include_usage:
            yield sse(self._envelope([], include_usage, usage(outcome)))
        yield SSE_DONE

    def _chunk(
        self,
        content: dict[str, str] | str,
        finish_reason: str | None,
        logprobs: dict[str, Any] | None,
        include_usage: bool,
    ) -> dict[str, Any]:
        key = "delta" if self.chat else "text"
        choice = {"index": 0, key: content, "logprobs": logprobs, "finish_reason": finish_reason}
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
