"""A reader that stops reading is dropped after a bounded buffer, on every transport.

Over real sockets the kernel buffers megabytes first (its send buffer grows to ``tcp_wmem``'s maximum, 4 MiB
here) before a send blocks, which makes a stalled reader slow to show. So these tests call the gateway's
ASGI app in-process with a fake of the server's transport (named as such below): it takes the first few
messages, then blocks every further send, as uvicorn's send does once the client's TCP window is full.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import Message

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.live.outbox import Outbox, SlowReader, pump
from tests.gateway.harness import metric, remote_model
from tests.helpers import free_port, write_config

pytestmark = pytest.mark.timeout(60)

ADMIN_KEY = "admin-key-for-slow-readers"
BUFFER = 4


class StallingTransport:
    """FAKE of uvicorn's WebSocket transport: passes ``passes`` sent messages, then every send blocks."""

    def __init__(self, incoming: list[dict[str, Any]], passes: int) -> None:
        self.sent: list[Message] = []
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._incoming.put_nowait({"type": "websocket.connect"})
        for message in incoming:
            self._incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})
        self._passes = passes
        self.blocked = asyncio.Event()

    async def receive(self) -> Message:
        return await self._incoming.get()  # then nothing more: the client says nothing, and reads nothing

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            if self._passes == 0:
                self.blocked.set()
                await asyncio.Event().wait()  # the window is full: never returns
            self._passes -= 1
        self.sent.append(message)


def _scope(path: str, query: str = "", subprotocols: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"gateway.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "subprotocols": subprotocols or [],
    }


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    config = write_config(
        tmp_path,
        {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model("m1", f"http://127.0.0.1:{free_port()}")],
            "auth": {"enabled": True, "admin_key": ADMIN_KEY},
            "live": {"min_interval_s": 0.001, "send_buffer": BUFFER, "stall_timeout_s": 0.5},
        },
    )
    gateway = create_gateway_app(load_settings(config))
    async with gateway.router.lifespan_context(gateway):
        yield gateway


async def _exposition(app: FastAPI) -> str:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        return (await client.get("/metrics")).text


async def test_pump_drops_a_reader_once_its_buffer_is_full_and_cancels_the_stuck_writer() -> None:
    offered = 0
    writer_cancelled = asyncio.Event()

    async def produce(outbox: Outbox[int]) -> None:
        nonlocal offered
        while True:
            outbox.offer(offered)
            offered += 1
            await asyncio.sleep(0)

    async def stuck_write(item: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            writer_cancelled.set()
            raise

    with pytest.raises(SlowReader):
        await pump(produce, stuck_write, limit=BUFFER)
    assert offered == BUFFER + 1  # the writer took one, BUFFER waited, the next was refused
    assert writer_cancelled.is_set()


async def test_a_put_waits_for_room_then_gives_up() -> None:
    outbox: Outbox[int] = Outbox(1)
    outbox.offer(1)
    with pytest.raises(SlowReader):
        await outbox.put(2, within_s=0.05)
    waiting = asyncio.create_task(outbox.put(3, within_s=5))
    await asyncio.sleep(0.01)
    assert await outbox.get() == 1  # room made: the waiting put goes in
    await waiting
    assert await outbox.get() == 3


async def test_ws_metrics_reader_that_stops_reading_is_dropped(app: FastAPI) -> None:
    transport = StallingTransport([], passes=2)
    scope = _scope("/ws/metrics", f"interval=0.001&token={ADMIN_KEY}")
    await asyncio.wait_for(app(scope, transport.receive, transport.send), timeout=30)
    assert transport.blocked.is_set()
    snapshots = [m for m in transport.sent if m["type"] == "websocket.send"]
    assert len(snapshots) == 2  # what got through before the window filled
    text = await _exposition(app)
    assert metric(text, "citadel_live_dropped_total", transport="ws", endpoint="/ws/metrics") == 1
    assert metric(text, "citadel_live_connections", transport="ws", endpoint="/ws/metrics") == 0


async def test_ws_chat_reader_that_stops_reading_is_dropped(app: FastAPI) -> None:
    # Five requests, none of whose answers is read: each is answered with a start, an error (nothing
    # listens at the model's URL) and a done, or, while a turn runs, a busy error. In any order that is more
    # than the one message stuck in the send plus the buffer of four; a relay waits stall_timeout_s for
    # room, then the connection is dropped.
    question = {"messages": [{"role": "user", "content": "hi"}]}
    transport = StallingTransport([question] * 5, passes=0)
    scope = _scope("/ws/chat/m1", f"token={ADMIN_KEY}")
    await asyncio.wait_for(app(scope, transport.receive, transport.send), timeout=30)
    text = await _exposition(app)
    assert metric(text, "citadel_live_dropped_total", transport="ws", endpoint="/ws/chat") == 1
    assert metric(text, "citadel_live_connections", transport="ws", endpoint="/ws/chat") == 0


async def test_graphql_subscriber_that_stops_reading_is_dropped(app: FastAPI) -> None:
    query = "subscription { metrics(interval: 0.001) { timestamp models { name } } }"
    transport = StallingTransport(
        [
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_KEY}"}},
            {"id": "1", "type": "subscribe", "payload": {"query": query}},
        ],
        passes=2,  # the connection_ack and one snapshot
    )
    scope = _scope("/graphql", subprotocols=["graphql-transport-ws"])
    task = asyncio.create_task(app(scope, transport.receive, transport.send))
    try:
        for _ in range(300):
            text = await _exposition(app)
            if metric(text, "citadel_live_dropped_total", transport="graphql") >= 1:
                break
            await asyncio.sleep(0.05)
        assert metric(text, "citadel_live_dropped_total", transport="graphql", endpoint="/graphql") == 1
        sent = [json.loads(m["text"]) for m in transport.sent if m["type"] == "websocket.send"]
        assert [m["type"] for m in sent] == ["connection_ack", "next"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
