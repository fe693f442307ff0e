"""The limiter's pipelined Redis connection against a real Redis: replies in order under concurrency, AUTH and
SELECT from the URL, a stalled server (SIGSTOP) failing calls after the timeout, and a restarted one
reconnected to."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
import uvloop

from citadel.governance.ratelimit import Window
from citadel.governance.ratelimit_redis import RedisRateLimiter
from citadel.governance.redis_pipe import PipelinedRedis, RedisReplyError, RedisUnavailable, encode_command
from tests.governance.servers import RedisServer


def test_commands_are_encoded_as_arrays_of_bulk_strings() -> None:
    assert encode_command("SET", "k", 12) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"
    assert encode_command(b"\xff") == b"*1\r\n$1\r\n\xff\r\n"


async def test_concurrent_calls_get_their_own_replies(redis_server: RedisServer) -> None:
    redis = PipelinedRedis(redis_server.url, timeout_s=5.0)
    try:
        await asyncio.gather(*(redis.execute("SET", f"pipe:{i}", f"value-{i}") for i in range(300)))
        values = await asyncio.gather(*(redis.execute("GET", f"pipe:{i}") for i in range(300)))
        assert values == [f"value-{i}".encode() for i in range(300)]
    finally:
        await redis.aclose()


def test_it_runs_on_uvloop_as_in_the_gateway(redis_server: RedisServer) -> None:
    async def roundtrips() -> list[object]:
        redis = PipelinedRedis(redis_server.url, timeout_s=5.0)
        try:
            return list(await asyncio.gather(*(redis.execute("ECHO", str(i)) for i in range(50))))
        finally:
            await redis.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(roundtrips()) == [str(i).encode() for i in range(50)]


async def test_a_cancelled_call_does_not_shift_the_replies(redis_server: RedisServer) -> None:
    redis = PipelinedRedis(redis_server.url, timeout_s=5.0)
    try:
        await redis.execute("SET", "pipe:slow", "first")
        await redis.execute("SET", "pipe:after", "second")
        cancelled = asyncio.ensure_future(redis.execute("GET", "pipe:slow"))
        after = asyncio.ensure_future(redis.execute("GET", "pipe:after"))
        await asyncio.sleep(0)
        cancelled.cancel()
        assert await after == b"second"
        assert await redis.execute("GET", "pipe:slow") == b"first"
    finally:
        await redis.aclose()


async def test_an_error_reply_raises_and_the_connection_keeps_working(redis_server: RedisServer) -> None:
    redis = PipelinedRedis(redis_server.url, timeout_s=5.0)
    try:
        with pytest.raises(RedisReplyError, match="unknown command"):
            await redis.execute("NOSUCHCOMMAND")
        assert await redis.execute("PING") == b"PONG"
    finally:
        await redis.aclose()


def _block_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a busy process: nothing else runs on the loop meanwhile


async def test_a_stalled_event_loop_is_not_taken_for_a_slow_redis(redis_server: RedisServer) -> None:
    redis = PipelinedRedis(redis_server.url, timeout_s=0.1)
    try:
        await redis.execute("PING")
        pending = asyncio.ensure_future(redis.execute("PING"))
        await asyncio.sleep(0)  # the command is queued, to go out in this turn of the loop
        _block_the_loop(0.3)  # the process is stuck past the timeout before Redis could even be asked
        # What uvloop does after such a stall: the overdue timer runs before the socket is used.
        redis._check_oldest()
        assert await pending == b"PONG"
    finally:
        await redis.aclose()


async def test_password_and_database_come_from_the_url() -> None:
    server = RedisServer("--requirepass", "s3cret")
    try:
        anonymous = PipelinedRedis(server.url, timeout_s=5.0)
        with pytest.raises(RedisReplyError, match="NOAUTH"):
            await anonymous.execute("PING")
        await anonymous.aclose()
        redis = PipelinedRedis(f"redis://:s3cret@127.0.0.1:{server.port}/3", timeout_s=5.0)
        await redis.execute("SET", "pipe:db", "three")
        info = (await redis.execute("CLIENT", "INFO")).decode()
        assert " db=3 " in info
        await redis.aclose()
    finally:
        server.close()


async def test_a_stalled_server_fails_calls_after_the_timeout_and_a_restarted_one_serves() -> None:
    server = RedisServer()
    redis = PipelinedRedis(server.url, timeout_s=0.3)
    try:
        assert await redis.execute("PING") == b"PONG"
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = asyncio.get_running_loop().time()
            results = await asyncio.gather(*(redis.execute("PING") for _ in range(5)), return_exceptions=True)
            waited = asyncio.get_running_loop().time() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert all(isinstance(result, RedisUnavailable) for result in results)
        assert 0.25 <= waited < 3.0
        assert await redis.execute("PING") == b"PONG"  # a new connection
        server.close()
        with pytest.raises(RedisUnavailable):
            await redis.execute("PING")
    finally:
        await redis.aclose()
        server.close()


async def test_the_limiter_reloads_its_script_after_a_flush(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(redis_server.url, timeout_s=5.0, clock=lambda: 3_600_000.0)
    admin = PipelinedRedis(redis_server.url, timeout_s=5.0)
    try:
        windows = [Window("rpm", 60, 10, "requests", 1)]
        first = await limiter.acquire("key:flush", windows)
        await admin.execute("SCRIPT", "FLUSH")
        second = await limiter.acquire("key:flush", windows)
        assert (first.used, second.used) == ((1,), (2,))
    finally:
        await limiter.aclose()
        await admin.aclose()
