"""An Anthropic Messages request, checked and turned into the chat completion request that serves it.

``system`` (a string or text blocks) becomes the first system message; a user turn's ``tool_result`` blocks
become ``tool`` messages (before the turn's text), an assistant turn's ``tool_use`` blocks its
``tool_calls`` (``input`` as JSON ``arguments``); ``tools`` (``input_schema``) and ``tool_choice`` (``auto``,
``any`` → ``required``, ``tool`` → a named function, ``none``) take chat's shape; ``stop_sequences`` become
``stop``. Images, documents and server tools are refused with a 400 naming the block; ``metadata`` and
``thinking`` are accepted and have no effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from citadel.errors import InvalidRequest
from citadel.gateway.json_fields import (
    bool_field,
    each_object,
    int_field,
    list_field,
    number_field,
    object_field,
    text_field,
)
from citadel.http_body import decode_json


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    model: str
    stream: bool
    chat: dict[str, Any]  # the chat completion request

    def chat_bytes(self) -> bytes:
        return json.dumps(self.chat).encode()


def read_body(raw: bytes) -> dict[str, Any]:
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def parse_messages_request(raw: bytes) -> MessagesRequest:
    body = read_body(raw)
    model = text_field(body, "model", "model", required=True)
    assert model is not None
    chat: dict[str, Any] = {"model": model, "messages": chat_messages(body)}
    chat["max_tokens"] = int_field(body, "max_tokens", "max_tokens", required=True)
    stream = bool_field(body, "stream", "stream", False)
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries the usage
    for name in ("temperature", "top_p"):
        value = number_field(body, name, name)
        if value is not None:
            chat[name] = value
    top_k = body.get("top_k")
    if top_k is not None:
        chat["top_k"] = int_field(body, "top_k", "top_k")
    stops = list_field(body, "stop_sequences", "stop_sequences")
    if stops:
        if not all(isinstance(stop, str) for stop in stops):
            raise InvalidRequest("`stop_sequences` must be an array of strings.", param="stop_sequences")
        chat["stop"] = stops
    tools = chat_tools(body)
    if tools:
        chat["tools"] = tools
        choice = object_field(body, "tool_choice", "tool_choice")
        if choice is not None:
            chat.update(_tool_choice(choice))
    return MessagesRequest(model=model, stream=stream, chat=chat)


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``system`` and ``messages`` as chat messages."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        text = system if isinstance(system, str) else _text_blocks(system, "system")
        messages.append({"role": "system", "content": text})
    turns = list_field(body, "messages", "messages", required=True) or []
    if not turns:
        raise InvalidRequest("`messages` must not be empty.", param="messages")
    for param, turn in each_object(turns, "messages"):
        role = turn.get("role")
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"`{param}.role` must be user or assistant.", param=f"{param}.role")
        content = turn.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
        elif role == "user":
            messages.extend(_user_turn(content, f"{param}.content"))
        else:
            messages.append(_assistant_turn(content, f"{param}.content"))
    return messages


def _blocks(content: Any, param: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(content, list):
        raise InvalidRequest(f"`{param}` must be a string or an array of content blocks.", param=param)
    return each_object(content, param)


def _unsupported(block: dict[str, Any], where: str) -> InvalidRequest:
    return InvalidRequest(
        f"`{where}.type` {block.get('type')!r} is not supported: this server takes text, tool_use and "
        "tool_result blocks.",
        param=f"{where}.type",
    )


def _text_blocks(content: Any, param: str) -> str:
    texts = []
    for where, block in _blocks(content, param):
        if block.get("type") != "text":
            raise _unsupported(block, where)
        texts.append(text_field(block, "text", f"{where}.text", required=True) or "")
    return "".join(texts)


def _user_turn(content: Any, param: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    texts: list[str] = []
    for where, block in _blocks(content, param):
        kind = block.get("type")
        if kind == "text":
            texts.append(text_field(block, "text", f"{where}.text", required=True) or "")
        elif kind == "tool_result":
            result = block.get("content")
            text = (
                ""
                if result is None
                else result
                if isinstance(result, str)
                else _text_blocks(result, f"{where}.content")
            )
            if block.get("is_error") is True:
                text = f"Error: {text}"
            call = text_field(block, "tool_use_id", f"{where}.tool_use_id", required=True)
            results.append({"role": "tool", "tool_call_id": call, "content": text})
        else:
            raise _unsupported(block, where)
    return [*results, {"role": "user", "content": "".join(texts)}] if texts else results


def _assistant_turn(content: Any, param: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for where, block in _blocks(content, param):
        kind = block.get("type")
        if kind == "text":
            texts.append(text_field(block, "text", f"{where}.text", required=True) or "")
        elif kind == "tool_use":
            arguments = object_field(block, "input", f"{where}.input") or {}
            calls.append(
                {
                    "id": text_field(block, "id", f"{where}.id", required=True),
                    "type": "function",
                    "function": {
                        "name": text_field(block, "name", f"{where}.name", required=True),
                        "arguments": json.dumps(arguments),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # this server's models do not think aloud: nothing to carry over
        else:
            raise _unsupported(block, where)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def chat_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for param, tool in each_object(list_field(body, "tools", "tools") or [], "tools"):
        if tool.get("type") not in (None, "custom"):
            raise InvalidRequest(
                f"`{param}.type` {tool.get('type')!r} is not supported: this server runs client tools only.",
                param=f"{param}.type",
            )
        function: dict[str, Any] = {
            "name": text_field(tool, "name", f"{param}.name", required=True),
            "parameters": object_field(tool, "input_schema", f"{param}.input_schema") or {"type": "object"},
        }
        description = text_field(tool, "description", f"{param}.description")
        if description is not None:
            function["description"] = description
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    chosen: dict[str, Any]
    if kind == "auto":
        chosen = {"tool_choice": "auto"}
    elif kind == "any":
        chosen = {"tool_choice": "required"}
    elif kind == "none":
        chosen = {"tool_choice": "none"}
    elif kind == "tool":
        name = text_field(choice, "name", "tool_choice.name", required=True)
        chosen = {"tool_choice": {"type": "function", "function": {"name": name}}}
    else:
        raise InvalidRequest("`tool_choice.type` must be auto, any, tool or none.", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True:
        chosen["parallel_tool_calls"] = False
    return chosen
