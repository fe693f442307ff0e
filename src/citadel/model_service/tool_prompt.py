"""Chat messages with tools as the chat template reads them: the model's own way, or the generic format.

A template that reads a ``tools`` variable (Hermes, Qwen, Llama 3.x, Mistral) gets the tools and the
history in Hugging Face's shape (``tool_calls`` with arguments as objects, ``tool`` messages). Any other
template (SmolLM2's) gets the generic format: the tools described in the system prompt, earlier calls
written into the assistant's text as ``<tool_call>`` blocks, and tool results as ``<tool_response>``
blocks in a user turn, the way Hermes-style models were trained to read them.
"""

from __future__ import annotations

import json
from typing import Any

from citadel.model_service.chat_template import ChatTemplate
from citadel.model_service.schemas import ChatMessage, Tool, ToolCall

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_GENERIC_INSTRUCTIONS = """You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


def tool_definitions(tools: list[Tool]) -> list[dict[str, Any]]:
    return [tool.model_dump(exclude_none=True) for tool in tools]


def render_chat(template: ChatTemplate, messages: list[ChatMessage], tools: list[Tool] | None) -> str:
    """The prompt for ``messages`` with ``tools`` offered (None or empty: no tools)."""
    if template.supports_tools:
        native = [_native_message(message) for message in messages]
        return template.render(native, tool_definitions(tools) if tools else None)
    generic = [_generic_message(message) for message in messages]
    if tools:
        instructions = _GENERIC_INSTRUCTIONS.format(
            tools="\n".join(json.dumps(tool, ensure_ascii=False) for tool in tool_definitions(tools))
        )
        if generic and generic[0]["role"] == "system":
            generic[0] = {"role": "system", "content": f"{generic[0]['content']}\n\n{instructions}"}
        else:
            generic.insert(0, {"role": "system", "content": instructions})
    return template.render(generic)


def call_block(name: str, arguments: object) -> str:
    """One call in the generic format, as the model writes it."""
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def _arguments(call: ToolCall) -> object:
    try:
        return json.loads(call.function.arguments)
    except json.JSONDecodeError:
        return call.function.arguments  # passed on as the client wrote it


def _generic_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "user", "content": f"<tool_response>\n{message.text}\n</tool_response>"}
    rendered = message.as_template_input()
    if message.role == "assistant" and message.tool_calls:
        blocks = [call_block(call.function.name, _arguments(call)) for call in message.tool_calls]
        rendered["content"] = "\n".join(([message.text] if message.text else []) + blocks)
    return rendered


def _native_message(message: ChatMessage) -> dict[str, Any]:
    rendered = message.as_template_input()
    if message.tool_calls:
        rendered["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": _arguments(call)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered
