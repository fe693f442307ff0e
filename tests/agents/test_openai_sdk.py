"""The official ``openai`` SDK through the gateway: tools, streamed tools, structured outputs, n > 1."""

from __future__ import annotations

import json
from typing import Annotated, Literal, cast

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel, Field

from tests.helpers import SMOLLM2_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WEATHER: ChatCompletionToolParam = {
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
            "additionalProperties": False,
        },
    },
}


class Address(BaseModel):
    city: Annotated[str, Field(max_length=20)]
    postcode: Annotated[str, Field(pattern=r"^[0-9]{5}$")]


class Customer(BaseModel):
    name: Annotated[str, Field(max_length=24)]
    tier: Literal["gold", "silver", "bronze"]
    age: int
    score: float
    address: Address
    tags: Annotated[list[Annotated[str, Field(max_length=10)]], Field(max_length=3)]
    nickname: Annotated[str, Field(max_length=12)] | None


@pytest.fixture(scope="module")
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="unused", max_retries=0, timeout=120)


def ask(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def test_tool_call_round_trip(client: openai.OpenAI) -> None:
    messages = ask("What is the weather in Paris?")
    first = client.chat.completions.create(
        model=SMOLLM2_NAME, messages=messages, tools=[WEATHER], tool_choice="required", temperature=0,
        parallel_tool_calls=False, max_tokens=200,
    )  # fmt: skip
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])
    messages += [
        cast(ChatCompletionMessageParam, choice.message.model_dump(exclude_none=True)),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21, "sky": "clear"}'},
    ]
    second = client.chat.completions.create(
        model=SMOLLM2_NAME,
        messages=messages,
        tools=[WEATHER],
        tool_choice="none",
        max_tokens=40,
        temperature=0,
    )
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls


def test_streamed_tool_calls_accumulate_with_the_sdk(client: openai.OpenAI) -> None:
    with client.beta.chat.completions.stream(
        model=SMOLLM2_NAME,
        messages=ask("What is the weather in Rome?"),
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=200,
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    for temperature in (0.0, 1.0):
        completion = client.beta.chat.completions.parse(
            model=SMOLLM2_NAME,
            messages=ask("Invent a customer."),
            response_format=Customer,
            temperature=temperature,
            seed=2,
            n=2,
            max_tokens=400,
        )
        assert len(completion.choices) == 2
        for choice in completion.choices:
            assert choice.finish_reason == "stop"
            assert isinstance(choice.message.parsed, Customer)
            schema = Customer.model_json_schema()
            jsonschema.validate(json.loads(choice.message.content or ""), schema)


def test_response_format_json_schema_through_create(client: openai.OpenAI) -> None:
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=SMOLLM2_NAME,
        messages=ask("What is 2 + 2? Answer in JSON."),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "sum", "schema": schema, "strict": True},
        },
        temperature=0,
        max_tokens=50,
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content or ""), schema)


def test_a_refused_schema_feature_reaches_the_sdk_as_a_400(client: openai.OpenAI) -> None:
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"mail": {"type": "string", "format": "email"}},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=SMOLLM2_NAME,
            messages=ask("hi"),
            response_format={"type": "json_schema", "json_schema": {"name": "m", "schema": schema}},
        )
    assert "format: email" in str(caught.value)
