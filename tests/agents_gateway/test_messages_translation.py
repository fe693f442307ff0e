"""Anthropic's Messages API against a scripted upstream, through the official ``anthropic`` SDK: the chat
request it becomes, the Message (and events) the chat answer becomes, tool use round trips, the key as
``x-api-key``, errors in Anthropic's shape, and token counting without ``/tokenize``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import anthropic
import pytest

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

WEATHER_TOOL: Any = {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}


async def test_text_message_with_system_and_stop_sequences(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        message = await gw.anthropic().messages.create(
            model=MODEL,
            max_tokens=32,
            system="Be brief.",
            messages=[{"role": "user", "content": [{"type": "text", "text": "Say hi."}]}],
            stop_sequences=["END"],
        )
        assert message.content[0].type == "text"
        assert message.content[0].text == COMPLETION_TEXT
        assert message.stop_reason == "end_turn"
        assert (message.usage.input_tokens, message.usage.output_tokens) == (3, 1)
        assert message.id.startswith("msg_")
        sent = gw.upstream_body()
        assert sent["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hi."},
        ]
        assert (sent["stop"], sent["max_tokens"]) == (["END"], 32)
        exposition = (await gw.client.get("/metrics")).text
        assert metric(exposition, "llm_requests_total", endpoint="/v1/messages", status="success") == 1


async def test_tool_use_round_trip(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        client = gw.anthropic()
        question: Any = {"role": "user", "content": "Weather in Paris?"}
        first = await client.messages.create(
            model=MODEL, max_tokens=64, messages=[question], tools=[WEATHER_TOOL], tool_choice={"type": "any"}
        )
        assert first.stop_reason == "tool_use"
        [use] = first.content
        assert use.type == "tool_use"
        assert (use.id, use.name, use.input) == ("call_1", "get_weather", {"city": "Paris"})
        sent = gw.upstream_body()
        assert sent["tool_choice"] == "required"
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA, "description": "Weather"},
            }
        ]
        gw.script.completion = copy.deepcopy(COMPLETION)
        conversation: Any = [
            question,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"},
                {"type": "text", "text": "And tomorrow?"},
            ]},
        ]  # fmt: skip
        second = await client.messages.create(
            model=MODEL, max_tokens=64, tools=[WEATHER_TOOL], messages=conversation
        )
        assert second.content[0].text == COMPLETION_TEXT  # type: ignore[union-attr]
        assert gw.upstream_body()["messages"] == [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
            {"role": "user", "content": "And tomorrow?"},
        ]


async def test_streamed_text_and_tool_use(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.chunks = TOOL_CHUNKS
        client = gw.anthropic()
        async with client.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": "Weather?"}],
            tools=[WEATHER_TOOL],
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
        assert kinds[0] == "message_start"
        assert kinds[-2:] == ["message_delta", "message_stop"]
        assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
        assert [block.type for block in final.content] == ["text", "tool_use"]
        assert final.content[0].text == "Let me check."  # type: ignore[union-attr]
        assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
        assert final.stop_reason == "tool_use"
        assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 9)


async def test_broken_stream_ends_with_an_error_event(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        gw.script.cut_stream_after = 2
        stream = gw.anthropic().messages.stream(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        async with stream as events:
            with pytest.raises(anthropic.APIStatusError) as caught:
                await events.get_final_message()
        assert "broke off" in str(caught.value)


async def test_errors_in_anthropic_shape(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        client = gw.anthropic()
        with pytest.raises(anthropic.NotFoundError) as missing:
            await client.messages.create(
                model="gpt-17", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        assert missing.value.body == {
            "type": "error",
            "error": {"type": "not_found_error", "message": "The model `gpt-17` does not exist."},
        }
        no_max = await gw.client.post(
            "/v1/messages", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        )
        assert no_max.status_code == 400
        assert no_max.json() == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "`max_tokens` is required."},
        }
        image: Any = {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
        }
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": [image]}]
            )
        assert "messages.0.content.0.type" in str(refused.value)
        # A browser's request (Origin) takes FastAPI's route: the same shape.
        cors = await gw.client.post("/v1/messages", content=b"{", headers={"origin": "http://app.example"})
        assert cors.status_code == 400
        assert cors.json()["type"] == "error"
        gw.script.status = 500
        gw.script.completion = copy.deepcopy(COMPLETION)
        with pytest.raises(anthropic.InternalServerError) as failed:
            await client.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        assert failed.value.body == {"type": "error", "error": {"type": "api_error", "message": "boom"}}
        assert gw.script.calls >= 1


async def test_key_as_x_api_key_or_bearer(tmp_path: Path) -> None:
    async with gateway(tmp_path, auth=True) as gw:
        gw.script.completion = copy.deepcopy(COMPLETION)
        secret = await gw.new_key("claude")
        hello: Any = [{"role": "user", "content": "hi"}]
        by_header = await gw.anthropic(secret).messages.create(model=MODEL, max_tokens=8, messages=hello)
        assert by_header.content
        bearer = anthropic.AsyncAnthropic(
            base_url="http://gateway", auth_token=secret, http_client=gw.client, max_retries=0
        )
        assert (await bearer.messages.create(model=MODEL, max_tokens=8, messages=hello)).content
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await gw.anthropic("ctd_wrong").messages.create(model=MODEL, max_tokens=8, messages=hello)
        assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        with pytest.raises(anthropic.AuthenticationError):
            await gw.anthropic("ctd_wrong").messages.count_tokens(model=MODEL, messages=hello)


async def test_count_tokens_estimates_without_tokenize(tmp_path: Path) -> None:
    async with gateway(tmp_path) as gw:
        answer = await gw.client.post(
            "/v1/messages/count_tokens",
            json={"model": MODEL, "system": "s" * 40, "messages": [{"role": "user", "content": "u" * 80}]},
        )
        assert answer.status_code == 200
        assert answer.json() == {"input_tokens": 30}
        assert answer.headers["x-citadel-token-count"] == "estimated"
        unknown = await gw.anthropic().messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert unknown.input_tokens == 1
        with pytest.raises(anthropic.NotFoundError):
            await gw.anthropic().messages.count_tokens(
                model="nope", messages=[{"role": "user", "content": "hi"}]
            )
