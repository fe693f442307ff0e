"""The gateway's HTTP/1.1 client for replicas: pooled keep-alive connections, httptools' parser, no frills.

Profiling the governed gateway under load put aiohttp's client at over a third of the gateway's core: a
request object, header multidicts, a task to write the body, a timer context and a stream reader per call.
The gateway needs a small part of that: POST a JSON body to a known replica, read the answer whole or as it
streams, reuse the connection. This module does only that (the health monitor and other occasional calls
keep using aiohttp):

- one ``writelines`` per request (head and body), responses parsed by httptools (llhttp, in C);
- an idle pool per origin, most recently used first, at most ``max_per_origin`` open to one replica and
  ``max_connections`` in all; a connection idle longer than ``keepalive_s`` is closed rather than reused
  (servers drop idle ones: uvicorn after 5 s);
- a request that finds no free connection waits in line, at most ``Deadlines.pool_s``, and then raises
  :class:`PoolTimeout`, which is the gateway's limit speaking and deliberately not an :class:`UpstreamError`:
  the replica never saw the request, so nothing may count it against the replica;
- timeouts as aiohttp's ``ClientTimeout(total, sock_connect, sock_read)``: connect, each wait for bytes,
  and the whole exchange, with one timer per wait;
- a reused connection that closes before a byte of the answer (the server dropped it while idle) is
  replaced by a new one and the request sent again, once.
"""

from __future__ import annotations

import asyncio
import collections
import math
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast

import httptools
from yarl import URL

_HIGH_WATER = 256 * 1024  # bytes of a streamed answer buffered before reading from the socket pauses


class UpstreamError(Exception):
    """A replica could not be reached, or did not answer completely and in time."""


class PoolTimeout(Exception):
    """No connection to the replica became free within the pool timeout; nothing was sent."""


class ConnectFailed(UpstreamError):
    """No connection (refused, unresolvable, unreachable)."""


class ConnectTimeout(ConnectFailed):
    """No connection within the connect timeout."""


class ReadTimeout(UpstreamError, TimeoutError):
    """No byte within the read (first-byte) timeout."""


class TotalTimeout(UpstreamError, TimeoutError):
    """The exchange took longer than the total timeout."""


class Disconnected(UpstreamError):
    """The connection closed (or the answer was not valid HTTP) before the answer was complete."""


@dataclass(frozen=True, slots=True)
class Deadlines:
    """An exchange's timeouts in seconds (aiohttp's ``total``, ``sock_connect``, ``sock_read``), and the
    longest wait for a free connection (``pool_s``, within ``total_s`` too)."""

    total_s: float
    connect_s: float
    read_s: float
    pool_s: float = math.inf


@dataclass(frozen=True, slots=True)
class _Origin:
    host: str
    port: int
    tls: bool

    @classmethod
    def of(cls, url: URL) -> _Origin:
        return cls(
            url.host or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80), url.scheme == "https"
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, client: UpstreamClient, origin: _Origin) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.busy = False  # an exchange is under way (from send until the answer is read or dropped)
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for (between exchanges): the connection is not to be trusted
            self.close()
            return
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"invalid HTTP from the replica: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.client._forget(self)
        if self.headers_done and not self.complete and not self._has_length():
            self.complete = True  # an answer without a length ends when the connection does
            self._wake()
        elif not self.complete:
            reason = f": {exc}" if exc else ""
            self._fail(Disconnected(f"the replica closed the connection{reason}"))

    def pause_writing(self) -> None:  # the request is small; nothing to throttle
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # -- the exchange -----------------------------------------------------------------------------------
    def send(self, head: bytes, body: bytes) -> None:
        self._reset()
        self.busy = True
        assert self.transport is not None
        self.transport.writelines((head, body))

    async def wait(self, read_deadline: float, total_deadline: float) -> None:
        """Until something new arrives (headers, a chunk, the end) or a timeout; raises the failure."""
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self._loop.create_future()
        total_first = total_deadline <= read_deadline
        timer = self._loop.call_at(min(read_deadline, total_deadline), self._timed_out, total_first)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self.error is not None:
            raise self.error

    def take(self) -> bytes:
        """Everything buffered so far."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.closed = True
        self.client._forget(self)

    def _timed_out(self, total: bool) -> None:
        if total:
            self._fail(TotalTimeout("the answer took longer than the total timeout"))
        else:
            self._fail(ReadTimeout("no byte within the read timeout"))

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _has_length(self) -> bool:
        return any(name in (b"content-length", b"transfer-encoding") for name, _ in self.raw_headers)


class UpstreamResponse:
    """A replica's answer: status and headers at once, the body whole (``read``) or as it comes
    (``readany``). ``release`` hands a fully read connection back to the pool; ``close`` drops it."""

    def __init__(self, connection: _Connection, deadlines: Deadlines, total_deadline: float) -> None:
        self._connection = connection
        self._deadlines = deadlines
        self._total_deadline = total_deadline
        self.status = connection.status
        self._raw_headers = connection.raw_headers
        self._done = False

    @property
    def arrived(self) -> bool:
        """The whole body has arrived (some of it may not have been read yet)."""
        return self._connection.complete

    def header(self, name: str) -> str | None:
        """A header's value (``name`` in lower case), or None."""
        wanted = name.encode("latin-1")
        for key, value in self._raw_headers:
            if key == wanted:
                return value.decode("latin-1")
        return None

    async def readany(self) -> bytes:
        """The next part of the body as it arrived; ``b""`` once it is complete."""
        connection = self._connection
        while not connection.chunks:
            if connection.complete:
                return b""
            loop_time = asyncio.get_running_loop().time()
            await connection.wait(loop_time + self._deadlines.read_s, self._total_deadline)
        return connection.take()

    async def read(self) -> bytes:
        """The whole body."""
        connection = self._connection
        while not connection.complete:
            loop_time = asyncio.get_running_loop().time()
            await connection.wait(loop_time + self._deadlines.read_s, self._total_deadline)
        return connection.take()

    async def iter_any(self) -> AsyncIterator[bytes]:
        while chunk := await self.readany():
            yield chunk

    def release(self) -> None:
        """Back to the pool if the answer was read to its end and the server keeps the connection open."""
        if self._done:
            return
        self._done = True
        connection = self._connection
        if connection.complete and connection.keep_alive and not connection.closed and not connection.chunks:
            connection.client._put_back(connection)
        else:
            connection.close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._connection.close()


class UpstreamClient:
    """Pooled keep-alive connections to the replicas; opened and closed by the gateway's lifespan.

    ``max_per_origin`` keeps one slow replica from taking every connection: requests for it then wait for
    one of its own, while the other replicas (and models) keep theirs.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        max_per_origin: int | None = None,
        keepalive_s: float = 4.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: for ``https`` replicas; default: the system trust store (honours ``SSL_CERT_FILE``)."""
        self._limit = max_connections
        self._origin_limit = min(max_per_origin or max_connections, max_connections)
        self._keepalive_s = keepalive_s
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._open_by_origin: collections.Counter[_Origin] = collections.Counter()
        # Requests waiting for a connection, first come first served among those a freed slot can serve.
        self._slot_waiters: collections.deque[tuple[_Origin, asyncio.Future[None]]] = collections.deque()
        self._tls = tls
        self._heads: dict[tuple[URL, tuple[tuple[str, str], ...]], bytes] = {}

    async def post(
        self,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        deadlines: Deadlines,
        *,
        request_id: str | None = None,
    ) -> UpstreamResponse:
        """Send ``body`` and wait for the answer's status and headers.

        ``headers`` are the same for every call to a replica (its head is built once); ``request_id`` goes
        in ``x-request-id``. Raises :class:`PoolTimeout` when no connection was free in time (nothing sent),
        an :class:`UpstreamError` when the replica failed.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        total_deadline = now + deadlines.total_s
        pool_deadline = min(total_deadline, now + deadlines.pool_s)
        head = self._head(url, headers, len(body), request_id)
        origin = _Origin.of(url)
        for _ in range(2):
            connection, reused = await self._acquire(origin, deadlines, pool_deadline)
            try:
                connection.send(head, body)
                while not connection.headers_done:
                    await connection.wait(loop.time() + deadlines.read_s, total_deadline)
            except Disconnected:
                connection.close()
                if reused and not connection.received_any:
                    continue  # the server dropped the idle connection as we reused it: once more, anew
                raise
            except BaseException:
                connection.close()
                raise
            return UpstreamResponse(connection, deadlines, total_deadline)
        raise Disconnected("the replica closed two connections in a row")

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()

    def open_to(self, url: URL) -> int:
        """Connections open to ``url``'s origin, busy or idle."""
        return self._open_by_origin[_Origin.of(url)]

    # -- the pool ---------------------------------------------------------------------------------------
    async def _acquire(
        self, origin: _Origin, deadlines: Deadlines, pool_deadline: float
    ) -> tuple[_Connection, bool]:
        while True:
            idle = self._idle.get(origin)
            now = time.monotonic()
            while idle:
                connection = idle.pop()
                if not connection.closed and now - connection.idle_since < self._keepalive_s:
                    return connection, True
                connection.close()
            if self._open_by_origin[origin] < self._origin_limit:
                if len(self._open) < self._limit:
                    break
                spare = self._spare()
                if spare is not None:  # all slots taken, some by idle connections to other replicas: free one
                    spare.close()
                    continue
            await self._wait_for_slot(origin, pool_deadline)
        return await self._connect(origin, deadlines), False

    async def _wait_for_slot(self, origin: _Origin, pool_deadline: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        entry = (origin, waiter)
        self._slot_waiters.append(entry)
        try:
            async with asyncio.timeout_at(pool_deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken as the time ran out (or the client left): the slot goes to the next
            else:
                self._slot_waiters.remove(entry)
            if isinstance(exc, TimeoutError):
                raise PoolTimeout(
                    f"no free connection to {origin.host}:{origin.port} within the pool timeout "
                    f"({self._open_by_origin[origin]} open to it, {len(self._open)} in all)"
                ) from exc
            raise

    def _spare(self) -> _Connection | None:
        """An idle connection to any replica, to close when a slot is needed elsewhere."""
        return next((conns[0] for conns in self._idle.values() if conns), None)

    def _can_serve(self, origin: _Origin) -> bool:
        """Whether a request for ``origin`` could get a connection now."""
        if self._idle.get(origin):
            return True
        if self._open_by_origin[origin] >= self._origin_limit:
            return False
        return len(self._open) < self._limit or self._spare() is not None

    async def _connect(self, origin: _Origin, deadlines: Deadlines) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(self, origin)
        self._open.add(connection)
        self._open_by_origin[origin] += 1
        tls = self._tls_context() if origin.tls else None
        try:
            async with asyncio.timeout(deadlines.connect_s):
                await loop.create_connection(
                    lambda: connection,
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError as exc:
            self._forget(connection)
            raise ConnectTimeout(f"no connection within {deadlines.connect_s} s") from exc
        except ssl.SSLError as exc:
            self._forget(connection)
            raise ConnectFailed(f"TLS handshake failed: {exc.reason or exc}") from exc
        except OSError as exc:
            self._forget(connection)
            raise ConnectFailed(f"connection refused or unreachable: {exc.strerror or exc}") from exc
        except BaseException:
            self._forget(connection)
            raise
        return connection

    def _put_back(self, connection: _Connection) -> None:
        connection.busy = False
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_one()

    def _forget(self, connection: _Connection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            origin = connection.origin
            self._open_by_origin[origin] -= 1
            if not self._open_by_origin[origin]:
                del self._open_by_origin[origin]
            idle = self._idle.get(origin)
            if idle and connection in idle:
                idle.remove(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        """Wake the longest-waiting request that the freed slot (or idle connection) can serve.

        A freed slot may be of no use to the first in line (its replica is at its own limit), so the line is
        searched rather than popped; a woken request that finds the slot taken meanwhile waits again.
        """
        for entry in self._slot_waiters:
            origin, waiter = entry
            if not waiter.done() and self._can_serve(origin):
                self._slot_waiters.remove(entry)
                waiter.set_result(None)
                return

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _head(self, url: URL, headers: Mapping[str, str], length: int, request_id: str | None) -> bytes:
        """The request line and headers; all but the id and the length are the same for a replica."""
        key = (url, tuple(headers.items()))
        prefix = self._heads.get(key)
        if prefix is None:
            host = url.host or "127.0.0.1"
            host_header = host if url.is_default_port() else f"{host}:{url.port}"
            lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {host_header}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            prefix = ("\r\n".join(lines) + "\r\n").encode("latin-1")
            self._heads[key] = prefix
        if request_id:
            return prefix + b"x-request-id: %s\r\nContent-Length: %d\r\n\r\n" % (request_id.encode(), length)
        return prefix + b"Content-Length: %d\r\n\r\n" % length
