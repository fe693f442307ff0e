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
from citadel.model_service.tool_parser import ParsedToolCall, ToolCallParser

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


class _Choice:
    """One choice's state while its answer is written."""

    def __init__(self, index: int, parses_tool_calls: bool) -> None:
        self.index = index
        self.parser = ToolCallParser() if parses_tool_calls else None
        self.text_offset = 0  # for the legacy completions logprobs

    def split(self, text: str, finished: bool) -> tuple[str, list[ParsedToolCall]]:
        """Content and finished tool calls in ``text`` (and, once ``finished``, whatever was held back)."""
        if self.parser is None:
            return text, []
        content, calls = self.parser.feed(text)
        if finished:
            tail, more = self.parser.finish()
            content, calls = content + tail, calls + more
        return content, calls

    def finish_reason(self, reason: str | None) -> str | None:
        """OpenAI's reason: an answer that ended after its tool calls ends with ``tool_calls``."""
        if reason == "stop" and self.parser is not None and self.parser.calls:
            return "tool_calls"
        return reason


class ResponseWriter:
    """Writes one request's answer: whole (``body``) or as SSE chunks (``stream``).

    Choices (``n`` > 1) are written by ``index``; in a stream they interleave as they are generated.
    """

    def __init__(self, model: str, *, chat: bool, logprobs: bool, parses_tool_calls: bool = False) -> None:
        self.model = model
        self.chat = chat
        self.logprobs = logprobs
        prefix = "chatcmpl" if chat else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._parses_tool_calls = parses_tool_calls
        self._choices: dict[int, _Choice] = {}

    def _choice(self, index: int) -> _Choice:
        if index not in self._choices:
            self._choices[index] = _Choice(index, self._parses_tool_calls)
        return self._choices[index]

    def _logprobs(self, choice: _Choice, deltas: list[Delta]) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        entries = [delta.logprob for delta in deltas if delta.logprob is not None]
        if self.chat:
            return chat_logprobs(entries)
        shaped = completion_logprobs(entries, choice.text_offset)
        choice.text_offset += sum(len(_text(item.token)) for item in entries)
        return shaped

    def body(self, deltas: list[Delta], outcome: Outcome) -> dict[str, Any]:
        by_index: dict[int, list[Delta]] = {}
        for delta in deltas:
            by_index.setdefault(delta.index, []).append(delta)
        choices = [self._whole_choice(index, by_index[index], outcome) for index in sorted(by_index)]
        return {
            "id": self.id,
            "object": "chat.completion" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage(outcome),
        }

    def _whole_choice(self, index: int, deltas: list[Delta], outcome: Outcome) -> dict[str, Any]:
        choice = self._choice(index)
        text, calls = choice.split("".join(delta.text for delta in deltas), finished=True)
        logprobs = self._logprobs(choice, deltas)
        finish_reason = choice.finish_reason(outcome.finish_reasons.get(index))
        if not self.chat:
            return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}
        message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            message["tool_calls"] = [call.as_openai() for call in calls]
        return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}

    async def stream(
        self, deltas: AsyncIterator[Delta], outcome: Outcome, *, include_usage: bool, n: int = 1
    ) -> AsyncIterator[str]:
        """SSE chunks; with ``include_usage`` every chunk has ``usage: null`` and a last one carries it.

        An engine failure after the stream began ends it with an error event, as vLLM does.
        """
        if self.chat:
            for index in range(n):
                yield sse(self._chunk(index, {"role": "assistant", "content": ""}, None, None, include_usage))
        try:
            async for delta in deltas:
                chunk = self._delta_chunk(delta, include_usage)
                if chunk is not None:
                    yield sse(chunk)
        except CitadelError as exc:
            yield sse(error_body(exc.message, exc.error_type, exc.param, exc.code))
        if include_usage:
            yield sse(self._envelope([], include_usage, usage(outcome)))
        yield SSE_DONE

    def _delta_chunk(self, delta: Delta, include_usage: bool) -> dict[str, Any] | None:
        choice = self._choice(delta.index)
        text, calls = choice.split(delta.text, finished=delta.finish_reason is not None)
        if not (text or calls or delta.finish_reason is not None or delta.logprob is not None):
            return None
        logprobs = self._logprobs(choice, [delta])
        finish_reason = choice.finish_reason(delta.finish_reason)
        if not self.chat:
            return self._chunk(delta.index, text, finish_reason, logprobs, include_usage)
        content: dict[str, Any] = {"content": text} if text else {}
        if calls:
            first = choice.parser.calls - len(calls) if choice.parser is not None else 0
            content["tool_calls"] = [
                {"index": first + offset, **call.as_openai()} for offset, call in enumerate(calls)
            ]
        return self._chunk(delta.index, content, finish_reason, logprobs, include_usage)

    def _chunk(
        self,
        index: int,
        content: dict[str, Any] | str,
        finish_reason: str | None,
        logprobs: dict[str, Any] | None,
        include_usage: bool,
    ) -> dict[str, Any]:
        key = "delta" if self.chat else "text"
        choice = {"index": index, key: content, "logprobs": logprobs, "finish_reason": finish_reason}
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
