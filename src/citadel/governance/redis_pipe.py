"""One pipelined Redis connection for the rate limiter's script: the request path's one Redis round trip.

The limiter runs one ``EVALSHA`` per request. Through redis-py's asyncio client that cost about a third of
the gateway's core under load (a pooled connection checked out, a lock, a timeout context and a Python
parser per command), more than forwarding the request itself. Here every caller writes its command on one
shared connection and waits for its reply in order (Redis answers a connection's commands in the order it
got them), commands written in the same event-loop tick go out in one ``write``, and hiredis parses the
replies. One timer watches the oldest unanswered command instead of one timeout per call.

A connection that fails or times out fails every command waiting on it (the limiter then applies
fail-open or fail-closed) and is replaced on the next call. A timeout is only called once the event loop
has looked at the socket after the deadline: after a stall of the loop itself (a busy process), the timer
may run before the reply that is already waiting is read.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url

_CONFIRM_S = 0.005  # the second look at an overdue command, after the loop has polled its sockets


class RedisUnavailable(Exception):
    """The connection could not be made, broke, or a reply did not come within the timeout."""


class RedisReplyError(Exception):
    """Redis answered the command with an error (``-ERR ...``)."""


def encode_command(*parts: bytes | str | int) -> bytes:
    """A command in RESP: an array of bulk strings (hiredis' C packer: a third of the Python loop's time)."""
    # hiredis' stub types the argument as a one-element tuple; it takes any number of parts.
    packed: bytes = hiredis.pack_command(parts)  # type: ignore[arg-type]
    return packed


class _Protocol(asyncio.Protocol):
    """Hands each parsed reply to the oldest waiting future."""

    def __init__(self, on_lost: Any) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(RedisUnavailable("unexpected reply from Redis"))
                return
            future, _ = self.waiting.popleft()
            if future.done():  # its caller was cancelled; the reply is dropped, order is kept
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(RedisReplyError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisUnavailable(f"connection lost: {exc or 'closed by the server'}"))

    def fail(self, error: Exception) -> None:
        """Fail every waiting command and drop the connection (a new one is made on the next call)."""
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        self._on_lost(self)


class PipelinedRedis:
    """``await redis.execute("GET", "k")`` over one shared, pipelined connection; see the module's doc."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        options = parse_url(url)
        self._host = str(options.get("host", "127.0.0.1"))
        self._port = int(options.get("port", 6379))
        self._path = options.get("path")  # unix:// URLs
        self._ssl = ssl.create_default_context() if url.startswith("rediss://") else None
        self._auth = [part for part in (options.get("username"), options.get("password")) if part]
        self._db = int(options.get("db", 0))
        self._timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None
        self._pending: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None

    async def execute(self, *parts: bytes | str | int) -> Any:
        """Send one command and wait for its reply; ``RedisUnavailable`` or ``RedisReplyError`` if none."""
        protocol = self._protocol if self._protocol is not None else await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        protocol.waiting.append((future, loop.time()))
        self._pending.append(encode_command(*parts))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = loop.call_at(loop.time() + self._timeout_s, self._check_oldest)
        return await future

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._protocol is not None:
            self._protocol.fail(RedisUnavailable("client closed"))

    def _flush(self) -> None:
        self._flush_scheduled = False
        data, self._pending = b"".join(self._pending), []
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None and data:
            protocol.transport.write(data)

    def _check_oldest(self, confirming: bool = False) -> None:
        """The timer on the oldest unanswered command: past the timeout, the connection is given up."""
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = protocol.waiting[0][1] + self._timeout_s
        if loop.time() < deadline:
            self._watchdog = loop.call_at(deadline, self._check_oldest)
        elif not confirming:  # look again after the loop has polled the socket (see the module's doc)
            self._watchdog = loop.call_later(_CONFIRM_S, self._check_oldest, True)
        else:
            protocol.fail(RedisUnavailable(f"no reply within {self._timeout_s} s"))

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._pending.clear()

    async def _connect(self) -> _Protocol:
        """The connection, made once for all callers waiting on it."""
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        except RedisUnavailable:
            raise
        except (OSError, TimeoutError, RedisReplyError) as exc:
            raise RedisUnavailable(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        protocol = _Protocol(self._lost)
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._path:
                    await loop.create_unix_connection(lambda: protocol, str(self._path))
                else:
                    await loop.create_connection(lambda: protocol, self._host, self._port, ssl=self._ssl)
                self._protocol = protocol
                if self._auth:
                    await self.execute("AUTH", *self._auth)
                if self._db:
                    await self.execute("SELECT", self._db)
        except BaseException:
            if self._protocol is protocol:
                protocol.fail(RedisUnavailable("connect failed"))
            raise
        return protocol


def script_sha(script: str) -> str:
    """The SHA1 Redis files a script under (``EVALSHA``'s first argument)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
