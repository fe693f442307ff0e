"""LangChain's ChatOpenAI against the gateway: ``bind_tools`` and ``with_structured_output``."""

from __future__ import annotations

from typing import Annotated, Literal

import jsonschema
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from tests.helpers import SMOLLM2_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@tool
def get_weather(city: Annotated[str, Field(max_length=24)], unit: Literal["celsius", "fahrenheit"]) -> str:
    """The current weather in a city."""
    return f"21 degrees {unit} in {city}"


class Ticket(BaseModel):
    """A support ticket."""

    title: Annotated[str, Field(max_length=30)]
    priority: Literal["low", "medium", "high"]
    estimate_hours: int


@pytest.fixture(scope="module")
def model(gateway_url: str) -> ChatOpenAI:
    return ChatOpenAI(
        model=SMOLLM2_NAME, base_url=f"{gateway_url}/v1", api_key="unused", temperature=0, max_retries=0,
        max_tokens=300, timeout=120,
    )  # fmt: skip


def test_bind_tools_gets_tool_calls_and_the_result_goes_back(model: ChatOpenAI) -> None:
    bound = model.bind_tools([get_weather], tool_choice="get_weather")
    question = HumanMessage("What is the weather in Paris?")
    reply = bound.invoke([question])
    [call] = reply.tool_calls
    assert call["name"] == "get_weather"
    jsonschema.validate(call["args"], convert_to_openai_tool(get_weather)["function"]["parameters"])
    result = get_weather.invoke(call["args"])
    answer = model.bind_tools([get_weather], tool_choice="none").invoke(
        [question, reply, ToolMessage(result, tool_call_id=call["id"])]
    )
    assert isinstance(answer.content, str)
    assert answer.content


def test_bind_tools_with_any_choice(model: ChatOpenAI) -> None:
    reply = model.bind_tools([get_weather], tool_choice="any").invoke("Weather in Oslo?")
    assert reply.tool_calls
    assert all(call["name"] == "get_weather" for call in reply.tool_calls)
    assert reply.response_metadata["finish_reason"] == "tool_calls"


def test_streamed_tool_calls_with_langchain(model: ChatOpenAI) -> None:
    bound = model.bind_tools([get_weather], tool_choice="get_weather")
    chunks = [chunk for chunk in bound.stream("Weather in Lima?") if isinstance(chunk, AIMessageChunk)]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert [call["name"] for call in merged.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output(
    model: ChatOpenAI, method: Literal["json_schema", "function_calling"]
) -> None:
    structured = model.with_structured_output(Ticket, method=method)
    result = structured.invoke("File a ticket about the login page being slow.")
    assert isinstance(result, Ticket)
    jsonschema.validate(result.model_dump(), Ticket.model_json_schema())
