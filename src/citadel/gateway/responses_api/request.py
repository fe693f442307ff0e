"""A Responses API request, checked and turned into the chat completion request that serves it.

``instructions`` become the first system message (not carried over to the next turn, as at OpenAI); function
tools and ``tool_choice`` take chat's shape; ``text.format`` becomes ``response_format``;
``max_output_tokens`` becomes ``max_tokens``. Fields that would change the answer and that the gateway cannot
honour (``background``, ``conversation``, ``prompt`` templates, built-in tools such as web search) are
refused with a 400 naming them; the rest of OpenAI's bookkeeping fields (``include``, ``reasoning``,
``truncation``, ``service_tier``, ...) are accepted and have no effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
from citadel.gateway.responses_api.items import input_messages
from citadel.http_body import decode_json
from citadel.vectors.retrieval import EXTENSION_FIELD

_REFUSED = ("background", "conversation", "prompt")


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """What the client asked, parsed once: the chat fields, and what its answer echoes."""

    model: str
    messages: list[dict[str, Any]]  # from ``input``, instructions excepted
    instructions: str | None
    previous_response_id: str | None
    store: bool
    stream: bool
    chat: dict[str, Any]  # the chat request's other fields (sampling, tools, response_format)
    echoed: dict[str, Any] = field(default_factory=dict)  # fields the Response object repeats

    def chat_body(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        """The chat completion request: instructions, the earlier turns (``history``), this input."""
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        return {"model": self.model, "messages": [*system, *history, *self.messages], **self.chat}

    def chat_bytes(self, history: list[dict[str, Any]]) -> bytes:
        return json.dumps(self.chat_body(history)).encode()


def parse_responses_request(raw: bytes) -> ResponsesRequest:
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name in _REFUSED:
        if body.get(name) not in (None, False):
            raise InvalidRequest(f"`{name}` is not supported by this server.", param=name)
    model = text_field(body, "model", "model", required=True)
    assert model is not None
    if "input" not in body:
        raise InvalidRequest("`input` is required.", param="input")
    stream = bool_field(body, "stream", "stream", False)
    chat: dict[str, Any] = {}
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # usage goes into response.completed
    max_tokens = int_field(body, "max_output_tokens", "max_output_tokens")
    if max_tokens is not None:
        chat["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = number_field(body, name, name)
        if value is not None:
            chat[name] = value
    parallel = bool_field(body, "parallel_tool_calls", "parallel_tool_calls", True)
    tools = _tools(body)
    if tools:
        chat["tools"] = tools
        chat["parallel_tool_calls"] = parallel
    tool_choice = _tool_choice(body.get("tool_choice"))
    if tool_choice is not None and tools:  # chat refuses a tool_choice without tools
        chat["tool_choice"] = tool_choice
    text = object_field(body, "text", "text") or {}
    text_format = object_field(text, "format", "text.format")
    response_format = _response_format(text_format)
    if response_format is not None:
        chat["response_format"] = response_format
    user = text_field(body, "user", "user")
    if user is not None:
        chat["user"] = user
    if EXTENSION_FIELD in body:  # Citadel's own (retrieval), read by the request path
        chat[EXTENSION_FIELD] = body[EXTENSION_FIELD]
    metadata = object_field(body, "metadata", "metadata") or {}
    echoed = {
        "max_output_tokens": max_tokens,
        "temperature": chat.get("temperature", 1.0),
        "top_p": chat.get("top_p", 1.0),
        "parallel_tool_calls": parallel,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": list_field(body, "tools", "tools") or [],
        "text": {"format": text_format or {"type": "text"}},
        "metadata": metadata,
        "user": user,
        "truncation": "disabled",
    }
    return ResponsesRequest(
        model=model,
        messages=input_messages(body["input"]),
        instructions=text_field(body, "instructions", "instructions"),
        previous_response_id=text_field(body, "previous_response_id", "previous_response_id"),
        store=bool_field(body, "store", "store", True),
        stream=stream,
        chat=chat,
        echoed=echoed,
    )


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for param, tool in each_object(list_field(body, "tools", "tools") or [], "tools"):
        if tool.get("type") != "function":
            raise InvalidRequest(
                f"`{param}.type` {tool.get('type')!r} is not supported: only function tools run here.",
                param=f"{param}.type",
            )
        function: dict[str, Any] = {"name": text_field(tool, "name", f"{param}.name", required=True)}
        description = text_field(tool, "description", f"{param}.description")
        if description is not None:
            function["description"] = description
        parameters = object_field(tool, "parameters", f"{param}.parameters")
        if parameters is not None:
            function["parameters"] = parameters
        if tool.get("strict") is not None:
            function["strict"] = bool_field(tool, "strict", f"{param}.strict", False)
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest(
        '`tool_choice` must be auto, none, required or {"type": "function", "name": ...}.',
        param="tool_choice",
    )


def _response_format(text_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if text_format is None or text_format.get("type") == "text":
        return None
    kind = text_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = object_field(text_format, "schema", "text.format.schema")
        if schema is None:
            raise InvalidRequest("`text.format.schema` is required.", param="text.format.schema")
        json_schema: dict[str, Any] = {
            "name": text_field(text_format, "name", "text.format.name") or "response",
            "schema": schema,
        }
        description = text_field(text_format, "description", "text.format.description")
        if description is not None:
            json_schema["description"] = description
        if text_format.get("strict") is not None:
            json_schema["strict"] = bool_field(text_format, "strict", "text.format.strict", False)
        return {"type": "json_schema", "json_schema": json_schema}
    raise InvalidRequest(
        "`text.format.type` must be text, json_object or json_schema.", param="text.format.type"
    )
