"""The Responses API against a scripted upstream: the chat request it becomes, the Response (and events) the
chat answer becomes, conversation state in the database, and governance as for any request."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseCompletedEvent, ResponseFunctionToolCall

from tests.agents_gateway.harness import (
    COMPLETION_TEXT,
    MODEL,
    TOOL_CALL,
    TOOL_CHUNKS,
    WEATHER_SCHEMA,
    gateway,
)
from tests.gateway.fake_upstream import COMPLETION
from tests.gateway.harness import metric

pytestmark = pytest.mark.timeout(60)

IMAGE = {"type": "input_image", "image_url": "https://example.invalid/cat.png"}
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": WEATHER_SCHEMA,
}


async def test_text_input_instructions_store_get_and_delete(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        client = gw.openai()
        response = await client.responses.create(model=MODEL, input="Say hi.", instructions="Be brief.")
        assert response.output_text == COMPLETION_TEXT
        assert response.status == "completed"
        assert response.usage is not None
        assert (response.usage.input_tokens, response.usage.output_tokens) == (3, 1)
        sent = gw.upstream_body()
        assert sent["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hi."},
        ]
        stored = await client.responses.retrieve(response.id)
        assert stored.id == response.id
        assert stored.output_text == COMPLETION_TEXT
        await client.responses.delete(response.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(response.id)


async def test_tool_call_and_its_output_continue_the_conversation(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        client = gw.openai()
        first = await client.responses.create(
            model=MODEL, input="Weather in Paris?", instructions="Use tools.", tools=[WEATHER_TOOL]
        )
        [call] = first.output
        assert call.type == "function_call"
        assert (call.call_id, call.name) == ("call_1", "get_weather")
        assert json.loads(call.arguments) == {"city": "Paris"}
        sent = gw.upstream_body()
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
            }
        ]
        gw.script.completion = copy.deepcopy(COMPLETION)
        second = await client.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"}],
            tools=[WEATHER_TOOL],
        )
        assert second.output_text == COMPLETION_TEXT
        assert second.previous_response_id == first.id
        # The earlier turn from the database; the first turn's instructions are not carried over.
        assert gw.upstream_body()["messages"] == [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        ]
        # And a third turn sees all of it.
        await client.responses.create(model=MODEL, previous_response_id=second.id, input="Thanks!")
        assert [m["role"] for m in gw.upstream_body()["messages"]] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
        ]


async def test_streamed_text_and_tool_call_events(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.chunks = TOOL_CHUNKS
        client = gw.openai()
        stream = await client.responses.create(
            model=MODEL, input="Weather?", tools=[WEATHER_TOOL], stream=True
        )
        events = [event async for event in stream]
        assert [event.type for event in events] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
        assert [event.sequence_number for event in events] == list(range(len(events)))
        completed = events[-1]
        assert isinstance(completed, ResponseCompletedEvent)
        final = completed.response
        assert final.output_text == "Let me check."
        call = final.output[1]
        assert isinstance(call, ResponseFunctionToolCall)
        assert json.loads(call.arguments) == {"city": "Paris"}
        assert final.usage is not None
        assert final.usage.total_tokens == 29
        assert gw.upstream_body()["stream_options"] == {"include_usage": True}
        stored = await client.responses.retrieve(final.id)
        assert [item.type for item in stored.output] == ["message", "function_call"]


async def test_broken_stream_ends_with_error_and_failed(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.cut_stream_after = 2
        answer = await gw.client.post("/v1/responses", json={"model": MODEL, "input": "hi", "stream": True})
        names = [
            line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")
        ]
        assert names[-2:] == ["error", "response.failed"]
        assert names.count("response.output_text.delta") == 2
        assert "response.completed" not in names


async def test_store_false_and_unknown_previous_response(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        client = gw.openai()
        unstored = await client.responses.create(model=MODEL, input="hi", store=False)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(unstored.id)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.responses.create(model=MODEL, input="hi", previous_response_id=unstored.id)
        assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_text_format_and_sampling_become_chat_fields(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
        }
        items: Any = [
            {"role": "developer", "content": "JSON only."},
            {"role": "user", "content": [{"type": "input_text", "text": "go"}]},
        ]
        await gw.openai().responses.create(
            model=MODEL,
            input=items,
            text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
            max_output_tokens=7,
            temperature=0.5,
        )  # fmt: skip
        sent = gw.upstream_body()
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "thing", "schema": schema, "strict": True},
        }
        assert (sent["max_tokens"], sent["temperature"]) == (7, 0.5)
        assert sent["messages"] == [
            {"role": "system", "content": "JSON only."},
            {"role": "user", "content": "go"},
        ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": "hi", "tools": [{"type": "web_search"}]}, "tools.0.type"),
        ({"model": MODEL, "input": [{"role": "user", "content": [IMAGE]}]}, "input.0.content.0.type"),
        ({"model": MODEL, "input": "hi", "background": True}, "background"),
        ({"model": MODEL, "input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_400_naming_the_field(tmp_path: Path, body: dict[str, Any], param: str) -> None:
    async with gateway(tmp_path) as gw:
        answer = await gw.client.post("/v1/responses", json=body)
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == param
        assert gw.script.calls == 0


async def test_stored_responses_belong_to_their_key(tmp_path: Path) -> None:
    async with gateway(tmp_path, auth=True) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        alice, bob = gw.openai(await gw.new_key("alice")), gw.openai(await gw.new_key("bob"))
        mine = await alice.responses.create(model=MODEL, input="hi")
        with pytest.raises(openai.NotFoundError):
            await bob.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.create(model=MODEL, input="more", previous_response_id=mine.id)
        with pytest.raises(openai.NotFoundError):
            await bob.responses.delete(mine.id)
        with pytest.raises(openai.AuthenticationError):
            await gw.openai("wrong").responses.create(model=MODEL, input="hi")
        assert (
            await alice.responses.create(model=MODEL, input="more", previous_response_id=mine.id)
        ).output_text


async def test_metrics_request_log_and_cache_as_any_request(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        body = {"model": MODEL, "input": "hi", "temperature": 0}
        first = await gw.client.post("/v1/responses", json=body)
        second = await gw.client.post("/v1/responses", json=body)
        assert (first.headers["x-citadel-cache"], second.headers["x-citadel-cache"]) == ("miss", "hit")
        assert gw.script.calls == 1  # the second from the cache, told as a Response of its own
        assert first.json()["id"] != second.json()["id"]
        assert second.json()["output"][0]["content"][0]["text"] == COMPLETION_TEXT
        exposition = (await gw.client.get("/metrics")).text
        requests = metric(
            exposition, "llm_requests_total", endpoint="/v1/responses", status="success", cache="miss"
        )
        assert requests == 1  # the miss; the hit is counted under cache="hit"
        hits = metric(exposition, "llm_requests_total", endpoint="/v1/responses", cache="hit")
        assert hits == 1
        assert metric(exposition, "llm_tokens_processed_total", model=MODEL, type="prompt") == 3
