"""``/ws/chat/{model}`` and ``/ws/metrics`` on a real gateway process and a real model service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import SMOLLM2_NAME
from tests.live.clients import logged
from tests.live.gateway_process import LiveGateway

pytestmark = pytest.mark.timeout(120)

QUESTION = {"messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 8, "temperature": 0}


async def _turn(socket: ClientConnection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages of one turn, up to and with its ``done``."""
    seen = []
    while True:
        message = json.loads(await socket.recv())
        seen.append(message)
        if message["type"] == "done":
            return seen, message


async def test_chat_streams_several_turns_on_one_connection_each_logged_as_ws(gateway: LiveGateway) -> None:
    key = gateway.create_key("ws-turns")
    url = f"{gateway.ws_url}/ws/chat/{SMOLLM2_NAME}"
    async with connect(url, additional_headers={"authorization": f"Bearer {key['secret']}"}) as socket:
        done_ids = []
        for _ in range(2):
            await socket.send(json.dumps(QUESTION))
            messages, done = await _turn(socket)
            assert messages[0]["type"] == "start"
            chunks = [m for m in messages if m["type"] == "chunk"]
            text = "".join(
                c["data"]["choices"][0]["delta"].get("content") or "" for c in chunks if c["data"]["choices"]
            )
            assert text.strip(), messages
            assert done["cancelled"] is False
            assert done["status"] == 200
            done_ids.append(done["request_id"])
    assert done_ids[0] != done_ids[1]
    for request_id in done_ids:
        row = logged(gateway, request_id)
        assert (row["transport"], row["statusCode"], row["endpoint"]) == ("ws", 200, "/v1/chat/completions")


async def test_a_cancel_message_stops_the_turn_and_it_is_logged_as_cancelled(gateway: LiveGateway) -> None:
    key = gateway.create_key("ws-cancel")
    url = f"{gateway.ws_url}/ws/chat/{SMOLLM2_NAME}"
    long_answer = {**QUESTION, "max_tokens": 400, "ignore_eos": True}
    async with connect(url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": key["secret"]}))
        await socket.send(json.dumps(long_answer))
        while json.loads(await socket.recv())["type"] != "chunk":
            pass
        await socket.send(json.dumps({"type": "cancel"}))
        messages, done = await _turn(socket)
        assert done["cancelled"] is True
        assert sum(m["type"] == "chunk" for m in messages) < 399
        # The connection goes on: a next turn is answered.
        await socket.send(json.dumps(QUESTION))
        _, after = await _turn(socket)
        assert after["cancelled"] is False
    row = logged(gateway, done["request_id"])
    assert row["statusCode"] == 499
    assert row["errorType"] == "client_disconnected"


async def test_a_bad_key_is_refused_with_an_openai_error_and_close_1008(gateway: LiveGateway) -> None:
    async with connect(f"{gateway.ws_url}/ws/chat/{SMOLLM2_NAME}?token=ctd_not-a-key") as socket:
        message = json.loads(await socket.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert message["type"] == "error"
    assert message["status"] == 401
    assert message["error"]["type"] == "authentication_error"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_turns_count_against_the_keys_rate_limit(gateway: LiveGateway) -> None:
    key = gateway.create_key("ws-tiny", tier="tiny")  # 2 requests a minute
    async with connect(f"{gateway.ws_url}/ws/chat/{SMOLLM2_NAME}?token={key['secret']}") as socket:
        statuses = []
        for _ in range(3):
            await socket.send(json.dumps(QUESTION))
            messages, done = await _turn(socket)
            statuses.append(done["status"])
        errors = [m for m in messages if m["type"] == "error"]
    assert statuses == [200, 200, 429]
    assert errors[0]["error"]["code"] == "rate_limit_exceeded"


async def test_metrics_feed_sends_a_snapshot_every_interval(gateway: LiveGateway) -> None:
    key = gateway.create_key("ws-metrics")
    async with connect(f"{gateway.ws_url}/ws/metrics?interval=0.2&token={key['secret']}") as socket:
        snapshots = [json.loads(await socket.recv()) for _ in range(3)]
    assert [s["type"] for s in snapshots] == ["metrics"] * 3
    assert snapshots[0]["timestamp"] < snapshots[1]["timestamp"] < snapshots[2]["timestamp"]
    model = snapshots[-1]["models"][0]
    assert model["name"] == SMOLLM2_NAME
    assert model["status"] == "healthy"
    assert model["replicas"][0]["breaker"] == "closed"


async def test_an_interval_below_the_floor_is_refused(gateway: LiveGateway) -> None:
    key = gateway.create_key("ws-floor")
    async with connect(f"{gateway.ws_url}/ws/metrics?interval=0.0001&token={key['secret']}") as socket:
        message = json.loads(await socket.recv())
    assert message["type"] == "error"
    assert message["error"]["param"] == "interval"
