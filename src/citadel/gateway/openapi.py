"""What the gateway's OpenAPI document says the proxied endpoints take and answer.

The request bodies are the model services' own schemas (the gateway forwards them as they are); the
answers are OpenAI's shapes as the services write them, and every error is OpenAI's error JSON. The
fast path answers these endpoints before FastAPI, so the routes in ``routes.py`` exist for this document
and for browsers' requests (which carry an ``Origin`` header).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

__all__ = ["CHAT_RESPONSES", "COMPLETION_RESPONSES", "EMBEDDING_RESPONSES"]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error JSON, which every error of the gateway has."""

    error: ErrorDetail


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMessageOut(BaseModel):
    role: Literal["assistant"]
    content: str | None


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # a base64 string with encoding_format "base64"


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request (malformed JSON, wrong types, context length exceeded)",
        401: "Missing or unknown API key",
        403: "The key may not use this model",
        404: "Unknown model",
        413: "Request body larger than gateway.max_body_bytes",
        429: "Rate limit or budget exceeded",
        500: "Server error (carries the request id)",
        502: "Upstream failed",
        503: "No healthy replica, or a queue is full",
        504: "Upstream timed out",
    }.items()
}
# A stream's events: ``data`` is one chunk's JSON (or ``[DONE]``); an error mid-stream is an error JSON.
_SSE_EVENT = {
    "type": "object",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
    "required": ["data"],
}
_SSE = {"text/event-stream": {"schema": _SSE_EVENT}}

CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ChatCompletion, "description": "The completion, or its SSE chunks", "content": _SSE},
    **_ERRORS,
}
COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TextCompletion, "description": "The completion, or its SSE chunks", "content": _SSE},
    **_ERRORS,
}
EMBEDDING_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": EmbeddingList, "description": "One vector per input"},
    **_ERRORS,
}
