"""Responses input items as chat messages, and a chat answer's message as Responses output items.

Input: a string (one user message), or a list of items: messages (``user``, ``assistant``, ``system``,
``developer``; content a string or ``input_text`` / ``output_text`` parts), ``function_call`` items (which
become the assistant message's ``tool_calls``) and ``function_call_output`` items (``tool`` messages).
Images, files and audio are refused (400): no backend of the gateway reads them yet.
"""

from __future__ import annotations

from typing import Any

from citadel.errors import InvalidRequest
from citadel.gateway.ids import new_id
from citadel.gateway.json_fields import each_object, text_field

_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def input_messages(value: Any) -> list[dict[str, Any]]:
    """The chat messages of a request's ``input``."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("`input` must be a string or a non-empty array of items.", param="input")
    messages: list[dict[str, Any]] = []
    for param, item in each_object(value, "input"):
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call = {
                "id": text_field(item, "call_id", f"{param}.call_id", required=True),
                "type": "function",
                "function": {
                    "name": text_field(item, "name", f"{param}.name", required=True),
                    "arguments": text_field(item, "arguments", f"{param}.arguments") or "{}",
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(output, str):
                output = _parts_text(output, f"{param}.output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": text_field(item, "call_id", f"{param}.call_id", required=True),
                    "content": output,
                }
            )
        else:
            raise InvalidRequest(
                f"`{param}.type` {kind!r} is not supported here (message, function_call, "
                "function_call_output).",
                param=f"{param}.type",
            )
    return messages


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        raise InvalidRequest(
            f"`{param}.role` must be one of user, assistant, system, developer.", param=f"{param}.role"
        )
    content = item.get("content")
    text = content if isinstance(content, str) else _parts_text(content, f"{param}.content")
    return {"role": _ROLES[role], "content": text}


def _parts_text(content: Any, param: str) -> str:
    if not isinstance(content, list):
        raise InvalidRequest(f"`{param}` must be a string or an array of content parts.", param=param)
    texts = []
    for where, part in each_object(content, param):
        kind = part.get("type")
        if kind not in _TEXT_PARTS:
            raise InvalidRequest(
                f"`{where}.type` {kind!r} is not supported: this server takes text input only.",
                param=f"{where}.type",
            )
        texts.append(text_field(part, "refusal" if kind == "refusal" else "text", f"{where}.text") or "")
    return "".join(texts)


def message_item(text: str, *, done: bool = True, item: str | None = None) -> dict[str, Any]:
    """An assistant ``message`` output item holding ``text``."""
    return {
        "id": item or new_id("msg"),
        "type": "message",
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [output_text(text)] if done else [],
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def call_item(
    call_id: str, name: str, arguments: str, *, done: bool = True, item: str | None = None
) -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": item or new_id("fc"),
        "type": "function_call",
        "status": "completed" if done else "in_progress",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat answer's assistant message as output items: its text (if any, or if it made no call), then
    one ``function_call`` per tool call."""
    calls = message.get("tool_calls") or []
    text = message.get("content") or ""
    items = [message_item(text)] if text or not calls else []
    for call in calls:
        function = call.get("function") or {}
        items.append(
            call_item(
                call.get("id") or new_id("call"), function.get("name", ""), function.get("arguments", "")
            )
        )
    return items


def assistant_message(text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat message an answer adds to its conversation (stored for the next turn)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    else:
        message["content"] = text
    return message
