"""Tools in the prompt: through a template that reads ``tools``, or in the generic format otherwise."""

from __future__ import annotations

import json

from citadel.model_service.chat_template import ChatTemplate
from citadel.model_service.schemas import ChatMessage, Tool
from citadel.model_service.tool_prompt import render_chat

# The shape of Qwen 2.5's template, cut down: it reads `tools` and renders calls and tool results itself.
NATIVE = (
    "{% if tools %}<|im_start|>system\nTOOLS {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function | tojson }}{% endfor %}"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PLAIN = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TOOL = Tool.model_validate(
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}
)
HISTORY = [
    ChatMessage.model_validate(message)
    for message in (
        {"role": "user", "content": "1 + 2?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": '{"a": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
    )
]


def template(source: str) -> ChatTemplate:
    return ChatTemplate(source, bos_token="", eos_token="<|im_end|>")


def test_a_template_that_reads_tools_renders_them_and_the_calls_itself() -> None:
    native = template(NATIVE)
    assert native.supports_tools
    prompt = render_chat(native, HISTORY, [TOOL])
    assert prompt.startswith('<|im_start|>system\nTOOLS [{"function": {"name": "add"')
    assert 'CALL {"arguments": {"a": 1}, "name": "add"}' in prompt  # arguments as an object, as HF expects
    assert "<|im_start|>tool\n3<|im_end|>" in prompt
    assert "<tool_call>" not in prompt


def test_other_templates_get_the_generic_format() -> None:
    plain = template(PLAIN)
    assert not plain.supports_tools
    prompt = render_chat(plain, HISTORY, [TOOL])
    system, rest = prompt.split("<|im_end|>\n", 1)
    assert system.startswith("<|im_start|>system\nYou may call one or more functions")
    assert json.dumps(TOOL.model_dump(exclude_none=True)) in system
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>' in rest
    assert "<|im_start|>user\n<tool_response>\n3\n</tool_response>" in rest


def test_the_client_system_prompt_comes_first_and_no_tools_means_no_instructions() -> None:
    messages = [ChatMessage(role="system", content="Be brief."), *HISTORY[:1]]
    prompt = render_chat(template(PLAIN), messages, [TOOL])
    assert prompt.startswith("<|im_start|>system\nBe brief.\n\nYou may call")
    assert render_chat(template(PLAIN), messages, None).startswith("<|im_start|>system\nBe brief.<|im_end|>")
