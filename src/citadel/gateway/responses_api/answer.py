"""The Response object: what ``POST /v1/responses`` answers and ``GET /v1/responses/{id}`` reads back."""

from __future__ import annotations

from typing import Any

from citadel.gateway.responses_api.request import ResponsesRequest

# A chat finish reason that cut the answer short, as the Response's ``incomplete_details.reason``.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage(chat_usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chat's ``usage`` in the Responses API's names."""
    chat_usage = chat_usage or {}
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    cached = (chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_object(
    request: ResponsesRequest,
    response_id: str,
    created_at: int,
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    finish_reason: str | None = None,
    chat_usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``status``: ``completed`` becomes ``incomplete`` when ``finish_reason`` says the answer was cut;
    ``in_progress`` and ``failed`` are a stream's."""
    reason = _INCOMPLETE.get(finish_reason or "")
    if status == "completed" and reason is not None:
        status = "incomplete"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": reason} if status == "incomplete" else None,
        "instructions": request.instructions,
        "model": request.model,
        "output": output,
        "previous_response_id": request.previous_response_id,
        "store": request.store,
        **request.echoed,
        "usage": usage(chat_usage) if status not in ("in_progress", "failed") else None,
    }
