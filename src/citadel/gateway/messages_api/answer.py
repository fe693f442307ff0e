"""A chat completion as an Anthropic Message: content blocks, stop reason, usage."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: str | None, matched: Any = None) -> tuple[str, str | None]:
    """Anthropic's ``stop_reason`` and ``stop_sequence`` for a chat choice. ``matched``: the stop string
    the upstream says it stopped at (vLLM's ``stop_reason``); servers that do not say report ``end_turn``.

    >>> stop_reason("stop", "END")
    ('stop_sequence', 'END')
    """
    if finish_reason == "stop" and isinstance(matched, str):
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn"), None


def tool_input(arguments: str, name: str) -> dict[str, Any]:
    """A tool call's JSON arguments as a ``tool_use`` block's ``input`` (an object)."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        logger.warning("the model's arguments for tool %r are not a JSON object; sent as {}", name)
        return {}
    return value


def usage(chat_usage: dict[str, Any] | None) -> dict[str, int]:
    chat_usage = chat_usage or {}
    return {
        "input_tokens": int(chat_usage.get("prompt_tokens") or 0),
        "output_tokens": int(chat_usage.get("completion_tokens") or 0),
    }


def message_object(message_id: str, model: str, chat: dict[str, Any]) -> dict[str, Any]:
    """The Message for a chat completion (its first choice)."""
    choice = chat["choices"][0]
    message = choice["message"]
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        name = function.get("name", "")
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": name,
                "input": tool_input(function.get("arguments", ""), name),
            }
        )
    reason, sequence = stop_reason(choice.get("finish_reason"), choice.get("stop_reason"))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(chat.get("usage")),
    }
