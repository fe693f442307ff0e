"""The Responses and Messages APIs on the real stack: ``citadel up`` serving SmolLM2 behind the gateway,
called through the official ``openai`` and ``anthropic`` SDKs over a socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config

# The first test waits for citadel up to start, too.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HELLO: Any = [{"role": "user", "content": "Name a colour."}]


class Stack:
    def __init__(self, directory: Path) -> None:
        port = free_port()
        config = write_config(
            directory,
            {
                "gateway": {"port": port, "health_interval_s": 0.5},
                "models": [smollm2_model(free_port(), threads=None)],
            },
        )
        self.url = f"http://127.0.0.1:{port}"
        self.process = ServiceProcess(
            ["up", "--config", str(config)],
            f"{self.url}/health",
            log=directory / "citadel-up.log",
            timeout_s=180,
        )
        self.openai = openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0, timeout=120)
        self.anthropic = anthropic.Anthropic(base_url=self.url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("agents-stack"))
    yield running
    running.process.stop()


def test_responses_plain_stored_continued_and_deleted(stack: Stack) -> None:
    client = stack.openai
    first = client.responses.create(
        model=SMOLLM2_NAME, input="Name a colour.", instructions="Answer in one word.", max_output_tokens=8
    )
    assert first.output_text
    assert first.usage is not None
    assert first.usage.output_tokens > 0
    second = client.responses.create(
        model=SMOLLM2_NAME, previous_response_id=first.id, input="And another one?", max_output_tokens=8
    )
    alone = client.responses.create(model=SMOLLM2_NAME, input="And another one?", max_output_tokens=1)
    assert second.usage is not None
    assert alone.usage is not None
    # The first turn (question and answer) came back from the database into the prompt.
    assert second.usage.input_tokens > alone.usage.input_tokens + 3
    assert client.responses.retrieve(second.id).output_text == second.output_text
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_responses_stream(stack: Stack) -> None:
    events = list(
        stack.openai.responses.create(
            model=SMOLLM2_NAME, input="Tell me a story.", max_output_tokens=12, stream=True
        )
    )
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    final = events[-1]
    assert final.type in ("response.completed", "response.incomplete")
    assert final.response.output_text == deltas != ""
    assert final.response.usage is not None
    # Cut at max_output_tokens (incomplete), unless the model ended its story sooner.
    assert (final.response.usage.output_tokens == 12) == (final.type == "response.incomplete")


def test_messages_count_tokens_matches_usage(stack: Stack) -> None:
    client = stack.anthropic
    counted = client.messages.count_tokens(model=SMOLLM2_NAME, system="Be brief.", messages=HELLO)
    message = client.messages.create(model=SMOLLM2_NAME, max_tokens=8, system="Be brief.", messages=HELLO)
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert counted.input_tokens == message.usage.input_tokens > 0
    assert 0 < message.usage.output_tokens <= 8


def test_messages_stream_and_stop_sequences(stack: Stack) -> None:
    prompt: Any = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]
    with stack.anthropic.messages.stream(
        model=SMOLLM2_NAME,
        max_tokens=40,
        messages=prompt,
        stop_sequences=["5"],
        extra_body={"temperature": 0},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert "5" not in text
    assert final.stop_reason in ("end_turn", "max_tokens")


def test_messages_error_in_anthropic_shape(stack: Stack) -> None:
    too_long: Any = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        stack.anthropic.messages.create(model=SMOLLM2_NAME, max_tokens=8, messages=too_long)
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


# With the built-in engine's tool calling: a forced call (the grammar makes the arguments valid JSON for the
# schema), the tool's result sent back, and an answer in text.
WEATHER_SCHEMA: Any = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_responses_tool_call_round_trip(stack: Stack) -> None:
    client = stack.openai
    tool: Any = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                 "parameters": WEATHER_SCHEMA}  # fmt: skip
    first = client.responses.create(
        model=SMOLLM2_NAME, input="What is the weather in Paris?", tools=[tool], tool_choice="required",
        parallel_tool_calls=False, temperature=0, max_output_tokens=200,
    )  # fmt: skip
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.output
    call = calls[0]
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments)["city"], str)
    second = client.responses.create(
        model=SMOLLM2_NAME,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}],
        tools=[tool],
        tool_choice="none",
        max_output_tokens=16,
    )
    assert second.output_text


def test_messages_tool_use_round_trip_streamed(stack: Stack) -> None:
    client = stack.anthropic
    tool: Any = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": WEATHER_SCHEMA,
    }
    question: Any = {"role": "user", "content": "What is the weather in Paris?"}
    with client.messages.stream(
        model=SMOLLM2_NAME,
        max_tokens=200,
        messages=[question],
        tools=[tool],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        extra_body={"temperature": 0},
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert uses, first.content
    assert uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict)
    assert isinstance(uses[0].input["city"], str)
    conversation: Any = [
        question,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}]},
    ]
    second = client.messages.create(
        model=SMOLLM2_NAME, max_tokens=16, messages=conversation, tools=[tool], tool_choice={"type": "none"}
    )
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert second.content[0].type == "text"
    counted = client.messages.count_tokens(
        model=SMOLLM2_NAME, messages=conversation, tools=[tool], tool_choice={"type": "none"}
    )
    # Counted as the engine renders it: the earlier call and its result are in the prompt.
    assert counted.input_tokens == second.usage.input_tokens
