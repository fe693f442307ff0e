"""The upstream client's connection limits against real sockets: per replica and in all, a pool wait with
a timeout of its own and an error that is not the replica's, and freed slots going to a waiter they can
serve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from yarl import URL

from citadel.gateway.upstream_http import Deadlines, PoolTimeout, UpstreamClient, UpstreamError
from tests.gateway.test_upstream_http import HEADERS, read_request

SHORT_POOL = Deadlines(total_s=10.0, connect_s=2.0, read_s=10.0, pool_s=0.3)


@dataclass
class HeldServer:
    """A replica that answers only once ``release`` is set; counts the requests it is holding."""

    url: URL
    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: int = 0
    peak: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def until_holding(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.holding >= count)


@asynccontextmanager
async def held_server() -> AsyncIterator[HeldServer]:
    state: HeldServer | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert state is not None
        try:
            while True:
                try:
                    await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                async with state.arrived:
                    state.holding += 1
                    state.peak = max(state.peak, state.holding)
                    state.arrived.notify_all()
                await state.release.wait()
                state.holding -= 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state = HeldServer(URL(f"http://127.0.0.1:{port}/v1/chat/completions"))
    try:
        yield state
    finally:
        state.release.set()
        server.close()


async def call(client: UpstreamClient, url: URL, deadlines: Deadlines = SHORT_POOL) -> bytes:
    response = await client.post(url, b"{}", HEADERS, deadlines)
    body = await response.read()
    response.release()
    return body


async def test_one_replica_gets_no_more_than_its_share_while_others_keep_theirs() -> None:
    client = UpstreamClient(max_connections=4, max_per_origin=2)
    async with held_server() as slow, held_server() as fast:
        fast.release.set()
        waiting = [asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0))) for _ in range(5)]
        await slow.until_holding(2)
        # The slow replica holds its two; the other replica still gets connections at once.
        assert await asyncio.gather(*(call(client, fast.url) for _ in range(4))) == [b"ok"] * 4
        assert client.open_to(slow.url) == 2
        slow.release.set()
        assert await asyncio.gather(*waiting) == [b"ok"] * 5
        assert slow.peak == 2
    await client.aclose()


async def test_a_pool_wait_times_out_with_its_own_error_not_an_upstream_one() -> None:
    client = UpstreamClient(max_connections=8, max_per_origin=1)
    async with held_server() as slow:
        holder = asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0)))
        await slow.until_holding(1)
        with pytest.raises(PoolTimeout, match="no free connection") as caught:
            await call(client, slow.url)
        assert not isinstance(caught.value, UpstreamError)
        assert slow.holding == 1  # the refused request never reached the replica
        slow.release.set()
        assert await holder == b"ok"
        assert await call(client, slow.url) == b"ok"  # the slot is free again
    await client.aclose()


async def test_the_total_timeout_bounds_the_pool_wait_too() -> None:
    client = UpstreamClient(max_connections=1)
    async with held_server() as slow:
        holder = asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0)))
        await slow.until_holding(1)
        with pytest.raises(PoolTimeout):
            await call(client, slow.url, Deadlines(total_s=0.2, connect_s=2.0, read_s=10.0, pool_s=30.0))
        slow.release.set()
        await holder
    await client.aclose()


async def test_a_freed_slot_goes_to_a_waiter_it_can_serve_not_just_the_first_in_line() -> None:
    client = UpstreamClient(max_connections=2, max_per_origin=1)
    async with held_server() as first, held_server() as second:
        holders = [
            asyncio.create_task(call(client, server.url, Deadlines(10.0, 2.0, 10.0)))
            for server in (first, second)
        ]
        await first.until_holding(1)
        await second.until_holding(1)
        # First in line wants `second` (at its limit); behind it, one wants `first`.
        blocked = asyncio.create_task(call(client, second.url, Deadlines(10.0, 2.0, 10.0, pool_s=5.0)))
        await asyncio.sleep(0)
        served = asyncio.create_task(call(client, first.url, Deadlines(10.0, 2.0, 10.0, pool_s=5.0)))
        await asyncio.sleep(0)
        first.release.set()  # frees a connection to `first` only
        assert await served == b"ok"
        assert await holders[0] == b"ok"
        assert not blocked.done()
        second.release.set()
        assert await blocked == b"ok"
        assert await holders[1] == b"ok"
    await client.aclose()


async def test_a_waiter_that_leaves_hands_its_slot_to_the_next() -> None:
    client = UpstreamClient(max_connections=1)
    async with held_server() as slow:
        slow.release.set()
        holding = await client.post(slow.url, b"{}", HEADERS, Deadlines(10.0, 2.0, 10.0))
        assert await holding.read() == b"ok"
        gone = asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0, pool_s=5.0)))
        left = asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0, pool_s=5.0)))
        staying = asyncio.create_task(call(client, slow.url, Deadlines(10.0, 2.0, 10.0, pool_s=5.0)))
        await asyncio.sleep(0.05)
        gone.cancel()  # leaves the line before any slot is free
        await asyncio.sleep(0)
        holding.release()  # the connection goes back and wakes the first in line, `left`...
        left.cancel()  # ...which leaves before it could take it: the slot must reach `staying`
        assert await staying == b"ok"
        for task in (gone, left):
            with pytest.raises(asyncio.CancelledError):
                await task
    await client.aclose()
