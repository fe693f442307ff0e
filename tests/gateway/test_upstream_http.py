"""The gateway's own upstream client against real sockets: keep-alive reuse, streamed and close-delimited
bodies, every timeout, a refused connection, invalid HTTP, a stale idle connection replaced, the connection
limit, and flow control on a large stream."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trustme
import uvloop
from aiohttp import web
from yarl import URL

from citadel.gateway.upstream_http import (
    ConnectFailed,
    ConnectTimeout,
    Deadlines,
    Disconnected,
    ReadTimeout,
    TotalTimeout,
    UpstreamClient,
)
from tests.helpers import free_port

FAST = Deadlines(total_s=5.0, connect_s=2.0, read_s=2.0)
HEADERS = {"content-type": "application/json"}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def aiohttp_server(app: web.Application) -> AsyncIterator[URL]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield URL(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[URL, list[int]]]:
    """A server speaking whatever ``handler`` writes; yields its URL and a list counting connections."""
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}/v1/chat/completions"), connections
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


def echo_app(requests: list[bytes]) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append(body)
        return web.Response(body=body, headers={"x-request-id": request.headers.get("x-request-id", "")})

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for index in range(3):
            await response.write(f"data: {index}\n\n".encode())
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 65536)  # 4 MiB in all, well past the client's high-water mark
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/stream", stream)
    app.router.add_post("/big", big)
    return app


async def test_answers_come_back_whole_and_the_connection_is_reused() -> None:
    requests: list[bytes] = []
    client = UpstreamClient(max_connections=8)
    async with aiohttp_server(echo_app(requests)) as base:
        for index in range(20):
            response = await client.post(
                base / "echo", b'{"n": %d}' % index, HEADERS, FAST, request_id=f"r{index}"
            )
            assert (response.status, await response.read()) == (200, b'{"n": %d}' % index)
            assert response.header("x-request-id") == f"r{index}"
            response.release()
        assert len(client._open) == 1  # one keep-alive connection served all twenty
    await client.aclose()
    assert len(requests) == 20


async def test_a_stream_arrives_chunk_by_chunk() -> None:
    client = UpstreamClient(max_connections=8)
    async with aiohttp_server(echo_app([])) as base:
        response = await client.post(base / "stream", b"{}", HEADERS, FAST)
        assert response.header("content-type") == "text/event-stream"
        chunks = [chunk async for chunk in response.iter_any()]
        response.release()
    await client.aclose()
    assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert len(chunks) >= 3  # as sent, 50 ms apart, not gathered at the end


async def test_a_large_stream_is_read_whole_through_flow_control() -> None:
    client = UpstreamClient(max_connections=8)
    async with aiohttp_server(echo_app([])) as base:
        response = await client.post(base / "big", b"{}", HEADERS, FAST)
        await asyncio.sleep(0.3)  # let the server fill the buffer until reading pauses
        total = 0
        async for chunk in response.iter_any():
            total += len(chunk)
        response.release()
    await client.aclose()
    assert total == 64 * 65536


async def test_an_answer_without_a_length_ends_with_the_connection() -> None:
    async def old_style(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        await writer.drain()

    client = UpstreamClient(max_connections=8)
    async with raw_server(old_style) as (url, _):
        response = await client.post(url, b"{}", HEADERS, FAST)
        assert await response.read() == b"until the end"
        response.release()
    await client.aclose()


async def test_timeouts_refusals_and_invalid_http_raise_typed_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(40):  # a byte every 0.1 s: never a read timeout, but over the total
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    client = UpstreamClient(max_connections=8)
    short = Deadlines(total_s=1.0, connect_s=1.0, read_s=0.3)
    async with raw_server(silent) as (url, _):
        with pytest.raises(ReadTimeout):
            await client.post(url, b"{}", HEADERS, short)
    async with raw_server(trickle) as (url, _):
        response = await client.post(url, b"{}", HEADERS, short)
        with pytest.raises(TotalTimeout):
            await response.read()
        response.close()
    async with raw_server(garbage) as (url, _):
        with pytest.raises(Disconnected, match="invalid HTTP"):
            await client.post(url, b"{}", HEADERS, short)
    with pytest.raises(ConnectFailed) as refused:
        await client.post(URL(f"http://127.0.0.1:{free_port()}/x"), b"{}", HEADERS, short)
    assert not isinstance(refused.value, ConnectTimeout)
    await client.aclose()
    assert not client._open


async def test_a_connect_that_hangs_times_out() -> None:
    # A listener that never accepts, with its backlog full: the kernel drops further SYNs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.1)
        client = UpstreamClient(max_connections=8)
        with pytest.raises(ConnectTimeout):
            await client.post(URL(f"http://127.0.0.1:{port}/x"), b"{}", HEADERS, Deadlines(5.0, 0.3, 1.0))
        await client.aclose()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_reused_connection_dropped_by_the_server_is_replaced_once() -> None:
    async def one_answer_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)  # the next request on this connection: dropped unanswered

    client = UpstreamClient(max_connections=8)
    async with raw_server(one_answer_then_drop) as (url, connections):
        first = await client.post(url, b"{}", HEADERS, FAST)
        assert await first.read() == b"ok"
        first.release()
        second = await client.post(url, b"{}", HEADERS, FAST)  # reused, dropped, sent again on a new one
        assert await second.read() == b"ok"
        second.release()
        assert len(connections) == 2

    async def drop_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(drop_at_once) as (url, connections):
        with pytest.raises(Disconnected):  # a new connection dropped: not sent again
            await client.post(url, b"{}", HEADERS, FAST)
        assert len(connections) == 1
    await client.aclose()


async def test_no_more_than_max_connections_are_open() -> None:
    peak = 0
    active = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal peak, active
        while True:
            try:
                await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.05)
            active -= 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    client = UpstreamClient(max_connections=2)

    async def call() -> bytes:
        response = await client.post(url, b"{}", HEADERS, FAST)
        body = await response.read()
        response.release()
        return body

    async with raw_server(slow) as (url, connections):
        assert await asyncio.gather(*(call() for _ in range(6))) == [b"ok"] * 6
    await client.aclose()
    assert peak == 2
    assert len(connections) == 2


async def test_https_replicas_are_reached_over_verified_tls() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    runner = web.AppRunner(echo_app([]))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context).start()
    url = URL(f"https://127.0.0.1:{port}/echo")
    trusting = UpstreamClient(max_connections=4, tls=client_context)
    stranger = UpstreamClient(max_connections=4)  # the system's trust store knows nothing of this CA
    try:
        for _ in range(2):  # the second call reuses the TLS connection
            response = await trusting.post(url, b'{"tls": true}', HEADERS, FAST)
            assert await response.read() == b'{"tls": true}'
            response.release()
        assert len(trusting._open) == 1
        with pytest.raises(ConnectFailed, match="TLS handshake failed: CERTIFICATE_VERIFY_FAILED"):
            await stranger.post(url, b"{}", HEADERS, FAST)
    finally:
        await trusting.aclose()
        await stranger.aclose()
        await runner.cleanup()


async def test_an_idle_connection_to_one_replica_makes_room_for_another() -> None:
    client = UpstreamClient(max_connections=1)
    async with aiohttp_server(echo_app([])) as first, aiohttp_server(echo_app([])) as second:
        for base in (first, second, first):
            response = await client.post(base / "echo", b"{}", HEADERS, Deadlines(2.0, 1.0, 1.0))
            assert await response.read() == b"{}"
            response.release()
            assert len(client._open) == 1
    await client.aclose()


def test_it_runs_on_uvloop_as_in_the_gateway() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_answers_come_back_whole_and_the_connection_is_reused())
        runner.run(test_a_large_stream_is_read_whole_through_flow_control())
