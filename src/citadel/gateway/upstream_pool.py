"""The gateway's HTTP/1.1 client for replicas: a pool of keep-alive connections, no frills.

Profiling the governed gateway under load put aiohttp's client at over a third of the gateway's core: a
request object, header multidicts, a task to write the body, a timer context and a stream reader per call.
The gateway needs a small part of that: send a body (or none) to a known replica, read the answer whole or as
it streams, reuse the connection. Every call the gateway makes to a replica goes through this one client:
forwarded requests, health probes and embedding calls. The pool is here; one connection, its state and its
parsing are in :mod:`.upstream_connection` (the split httpcore makes between its connection pool and its
``HTTP11Connection``).

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
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from yarl import URL

from citadel.gateway.upstream_connection import Connection, Origin
from citadel.gateway.upstream_errors import (
    ConnectFailed,
    ConnectTimeout,
    Deadlines,
    Disconnected,
    PoolTimeout,
)


class UpstreamResponse:
    """A replica's answer: status and headers at once, the body whole (``read``) or as it comes
    (``readany``). ``release`` hands a fully read connection back to the pool; ``close`` drops it."""

    def __init__(
        self, client: UpstreamClient, connection: Connection, deadlines: Deadlines, total_deadline: float
    ) -> None:
        self._client = client
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
        if self._connection.reusable:
            self._client._put_back(self._connection)
        else:
            self._connection.close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._connection.close()


class UpstreamClient:
    """Pooled keep-alive connections to the replicas; opened and closed by the gateway's lifespan.

    ``max_per_origin`` keeps one slow replica from taking every connection: requests for it then wait for
    one of its own, while the other replicas (and models) keep theirs.

    >>> client = UpstreamClient(max_connections=100, max_per_origin=50)  # doctest: +SKIP
    >>> answer = await client.get(URL("http://127.0.0.1:11400/health"), {}, deadlines)  # doctest: +SKIP
    >>> body = await answer.read(); answer.release()  # doctest: +SKIP
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
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._open_by_origin: collections.Counter[Origin] = collections.Counter()
        # Requests waiting for a connection, first come first served among those a freed slot can serve.
        self._slot_waiters: collections.deque[tuple[Origin, asyncio.Future[None]]] = collections.deque()
        self._tls = tls
        self._heads: dict[tuple[str, URL, tuple[tuple[str, str], ...]], bytes] = {}

    async def post(
        self,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        deadlines: Deadlines,
        *,
        request_id: str | None = None,
        trace_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> UpstreamResponse:
        """Send ``body`` and wait for the answer's status and headers.

        ``headers`` are the same for every call to a replica (its head is built once); ``request_id`` goes
        in ``x-request-id``, ``trace_headers`` (the attempt's ``traceparent``) before it. Raises
        :class:`PoolTimeout` when no connection was free in time (nothing sent), an :class:`UpstreamError`
        when the replica failed.
        """
        return await self.request(
            "POST", url, body, headers, deadlines, request_id=request_id, trace_headers=trace_headers
        )

    async def get(
        self, url: URL, headers: Mapping[str, str], deadlines: Deadlines, *, request_id: str | None = None
    ) -> UpstreamResponse:
        """``GET url``, as :meth:`post` (health probes, model cards)."""
        return await self.request("GET", url, b"", headers, deadlines, request_id=request_id)

    async def request(
        self,
        method: str,
        url: URL,
        body: bytes,
        headers: Mapping[str, str],
        deadlines: Deadlines,
        *,
        request_id: str | None = None,
        trace_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> UpstreamResponse:
        """One exchange of ``method`` on a pooled connection; see :meth:`post`."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        total_deadline = now + deadlines.total_s
        pool_deadline = min(total_deadline, now + deadlines.pool_s)
        head = self._head(method, url, headers, len(body), request_id, trace_headers)
        origin = Origin.of(url)
        for _ in range(2):
            connection, reused = await self._acquire(origin, deadlines, pool_deadline)
            try:
                connection.send(head, body)
                while not connection.headers_done:
                    await connection.wait(loop.time() + deadlines.read_s, total_deadline)
            except Disconnected as exc:
                connection.close()
                if reused and exc.unanswered:
                    continue  # the server dropped the idle connection as we reused it: once more, anew
                raise
            except BaseException:
                connection.close()
                raise
            return UpstreamResponse(self, connection, deadlines, total_deadline)
        raise Disconnected("the replica closed two connections in a row")

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()

    def open_to(self, url: URL) -> int:
        """Connections open to ``url``'s origin, busy or idle."""
        return self._open_by_origin[Origin.of(url)]

    # -- the pool ---------------------------------------------------------------------------------------
    async def _acquire(
        self, origin: Origin, deadlines: Deadlines, pool_deadline: float
    ) -> tuple[Connection, bool]:
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

    async def _wait_for_slot(self, origin: Origin, pool_deadline: float) -> None:
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

    def _spare(self) -> Connection | None:
        """An idle connection to any replica, to close when a slot is needed elsewhere."""
        return next((conns[0] for conns in self._idle.values() if conns), None)

    def _can_serve(self, origin: Origin) -> bool:
        """Whether a request for ``origin`` could get a connection now."""
        if self._idle.get(origin):
            return True
        if self._open_by_origin[origin] >= self._origin_limit:
            return False
        return len(self._open) < self._limit or self._spare() is not None

    async def _connect(self, origin: Origin, deadlines: Deadlines) -> Connection:
        loop = asyncio.get_running_loop()
        connection = Connection(origin, self._forget)
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

    def _put_back(self, connection: Connection) -> None:
        connection.idle(time.monotonic())
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_one()

    def _forget(self, connection: Connection) -> None:
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

    def _head(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        length: int,
        request_id: str | None,
        trace_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> bytes:
        """The request line and headers; all but the id, the trace and the length are the same for a
        replica (so the cached prefix never holds a per-request value)."""
        key = (method, url, tuple(headers.items()))
        prefix = self._heads.get(key)
        if prefix is None:
            host = url.host or "127.0.0.1"
            host_header = host if url.is_default_port() else f"{host}:{url.port}"
            lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {host_header}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            prefix = ("\r\n".join(lines) + "\r\n").encode("latin-1")
            self._heads[key] = prefix
        if trace_headers:
            prefix += b"".join(b"%s: %s\r\n" % pair for pair in trace_headers)
        if request_id:
            return prefix + b"x-request-id: %s\r\nContent-Length: %d\r\n\r\n" % (request_id.encode(), length)
        return prefix + b"Content-Length: %d\r\n\r\n" % length


__all__ = ["UpstreamClient", "UpstreamResponse"]
