"""Tool calling on SmolLM2-135M (its template has no tools: the generic format), over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from tests.helpers import SMOLLM2_NAME

pytestmark = pytest.mark.timeout(180)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 24},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "pattern": "^[A-Z][a-z]{1,12}/[A-Z][a-z]{1,12}$"}},
            "required": ["zone"],
        },
    },
}
PARAMETERS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in (WEATHER, TIME)}  # type: ignore[index]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def chat(url: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions", json={"model": SMOLLM2_NAME, "messages": ASK, **body}, timeout=120
    )


def valid_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = message["tool_calls"]
    for call in calls:
        assert call["type"] == "function"
        assert call["id"].startswith("call_")
        jsonschema.validate(json.loads(call["function"]["arguments"]), PARAMETERS[call["function"]["name"]])
    assert len({call["id"] for call in calls}) == len(calls)
    return calls


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_time"}}])
def test_a_forced_choice_returns_valid_tool_calls(model_url: str, tool_choice: Any) -> None:
    for temperature in (0.0, 1.0):
        body = chat(
            model_url, tools=[WEATHER, TIME], tool_choice=tool_choice, temperature=temperature, seed=3,
            max_tokens=200,
        ).json()  # fmt: skip
        choice = body["choices"][0]
        assert choice["finish_reason"] == "tool_calls", choice
        assert choice["message"]["content"] is None
        calls = valid_calls(choice["message"])
        if isinstance(tool_choice, dict):
            assert [call["function"]["name"] for call in calls] == ["get_time"]


def test_parallel_calls_off_gives_exactly_one(model_url: str) -> None:
    body = chat(
        model_url, tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=False, temperature=0,
        max_tokens=200,
    ).json()  # fmt: skip
    assert len(valid_calls(body["choices"][0]["message"])) == 1


def test_auto_answers_in_text_or_in_valid_calls(model_url: str) -> None:
    for seed in range(3):
        choice = chat(model_url, tools=[WEATHER], temperature=1.0, seed=seed, max_tokens=60).json()[
            "choices"
        ][0]
        if choice["message"].get("tool_calls"):
            assert choice["finish_reason"] == "tool_calls"
            valid_calls(choice["message"])
        else:
            assert choice["message"]["content"]
            assert "<tool_call>" not in choice["message"]["content"] or choice["finish_reason"] == "length"


def test_none_offers_no_tools_and_returns_text(model_url: str) -> None:
    with_none = chat(model_url, tools=[WEATHER], tool_choice="none", temperature=0, max_tokens=1).json()
    without = chat(model_url, temperature=0, max_tokens=1).json()
    assert with_none["usage"]["prompt_tokens"] == without["usage"]["prompt_tokens"]
    assert "tool_calls" not in with_none["choices"][0]["message"]


def test_tools_are_described_in_the_system_prompt(model_url: str) -> None:
    plain = chat(model_url, temperature=0, max_tokens=1).json()["usage"]["prompt_tokens"]
    offered = chat(model_url, tools=[WEATHER], temperature=0, max_tokens=1).json()["usage"]["prompt_tokens"]
    assert offered > plain + 40  # the function signature and the instructions


def test_a_streamed_call_arrives_as_tool_call_deltas(model_url: str) -> None:
    request = {"tools": [WEATHER], "tool_choice": "required", "temperature": 0, "max_tokens": 200}
    whole = chat(model_url, **request).json()["choices"][0]
    with httpx.stream(
        "POST",
        f"{model_url}/v1/chat/completions",
        json={"model": SMOLLM2_NAME, "messages": ASK, "stream": True, **request},
        timeout=60,
    ) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    streamed = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert [call["index"] for call in streamed] == list(range(len(streamed)))
    expected = whole["message"]["tool_calls"]
    assert [c["function"] for c in streamed] == [c["function"] for c in expected]
    assert not any(delta.get("content") for delta in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_history_with_calls_and_results_renders_for_the_next_turn(model_url: str) -> None:
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
    ]
    body = chat(model_url, messages=history, tools=[WEATHER], tool_choice="none", temperature=0, max_tokens=1)
    assert body.status_code == 200
    rendered = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", '
        '"unit": "celsius"}}\n</tool_call><|im_end|>\n'
        '<|im_start|>user\n<tool_response>\n{"temperature": 21}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n"
    )
    tokens = httpx.post(f"{model_url}/tokenize", json={"prompt": rendered}, timeout=30).json()
    assert body.json()["usage"]["prompt_tokens"] == tokens["count"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, None),
        ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"x": {"type": "string", "format": "email"}},
                            },
                        },
                    }
                ],
                "tool_choice": "required",
            },
            "tools",
        ),
    ],
)
def test_bad_tool_requests_are_400(model_url: str, body: dict[str, Any], param: str | None) -> None:
    response = chat(model_url, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] is not None
        assert error["param"].startswith(param)
