"""One keep-alive HTTP/1.1 connection to a replica: one exchange at a time, answers parsed by httptools.

The connection's whole state is one :class:`ConnectionState` (as httpcore's ``HTTP11Connection`` keeps
one), moved along by the protocol callbacks and read by the pool (:mod:`.upstream_pool`)::

    CONNECTING ─► IDLE ◄──────────────────────── DONE (released: back to the pool)
                   │                              ▲
                   └► SENT ─► HEAD ─► BODY ───────┤
                                                  └─ FINAL (the server ends it, or it ended with no length)
    any state ─► CLOSED on a close or a drop (an answer already complete stays FINAL: still readable)

The failure of an exchange (a timeout, a drop, invalid HTTP) is kept as its error, raised to the reader.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools
from yarl import URL

from citadel.gateway.upstream_errors import Disconnected, ReadTimeout, TotalTimeout, UpstreamError

HIGH_WATER = 256 * 1024  # bytes of a streamed answer buffered before reading from the socket pauses


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"  # opening; not yet usable
    IDLE = "idle"  # open, no exchange: in the pool
    SENT = "sent"  # the request is written, not a byte of the answer yet
    HEAD = "head"  # the answer's head is arriving
    BODY = "body"  # the head is complete, the body arriving
    DONE = "done"  # the answer is complete and the connection may be reused
    FINAL = "final"  # the answer is complete; the connection is not to be reused
    CLOSED = "closed"  # closed before its answer was complete (or while idle)


_EXCHANGING = frozenset({ConnectionState.SENT, ConnectionState.HEAD, ConnectionState.BODY})
_ANSWERED = frozenset({ConnectionState.DONE, ConnectionState.FINAL})
_HEAD_READ = frozenset({ConnectionState.BODY, *_ANSWERED})


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    tls: bool

    @classmethod
    def of(cls, url: URL) -> Origin:
        return cls(
            url.host or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80), url.scheme == "https"
        )


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``on_close`` tells the pool once it is gone."""

    def __init__(self, origin: Origin, on_close: Callable[[Connection], None]) -> None:
        self.origin = origin
        self.state = ConnectionState.CONNECTING
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self._on_close = on_close
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- what the pool and the response read ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.state in (ConnectionState.CLOSED, ConnectionState.FINAL) or self.transport is None

    @property
    def headers_done(self) -> bool:
        return self.state in _HEAD_READ

    @property
    def complete(self) -> bool:
        return self.state in _ANSWERED

    @property
    def reusable(self) -> bool:
        """The answer was read to its end, the server keeps the connection, and it is still open."""
        return self.state is ConnectionState.DONE and self.transport is not None and not self.chunks

    # -- asyncio.Protocol -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport
        self.state = ConnectionState.IDLE

    def data_received(self, data: bytes) -> None:
        if self.state is ConnectionState.IDLE:  # bytes nobody asked for: the connection is not to be trusted
            self.close()
            return
        if self.state is ConnectionState.SENT:
            self.state = ConnectionState.HEAD
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"invalid HTTP from the replica: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.state is ConnectionState.BODY and not self._has_length():
            self.state = ConnectionState.FINAL  # an answer without a length ends when the connection does
            self._wake()
        elif self.complete:
            self.state = ConnectionState.FINAL
        else:
            if self.state in _EXCHANGING:
                reason = f": {exc}" if exc else ""
                unanswered = self.state is ConnectionState.SENT
                self._fail(Disconnected(f"the replica closed the connection{reason}", unanswered=unanswered))
            self.state = ConnectionState.CLOSED
        self._on_close(self)

    def pause_writing(self) -> None:  # the request is small; nothing to throttle
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ----------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.state = ConnectionState.BODY
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        before = self.buffered
        self.buffered += len(body)
        if before <= HIGH_WATER < self.buffered and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        keep = self._parser.should_keep_alive()
        self.state = ConnectionState.DONE if keep else ConnectionState.FINAL
        self._wake()

    # -- the exchange -----------------------------------------------------------------------------------
    def send(self, head: bytes, body: bytes) -> None:
        assert self.state is ConnectionState.IDLE, self.state
        assert self.transport is not None
        self._reset()
        self.state = ConnectionState.SENT
        self.transport.writelines((head, body))

    def idle(self, now: float) -> None:
        """Released after a complete answer: free for the next exchange."""
        self.state = ConnectionState.IDLE
        self.idle_since = now

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
        was_paused = self.buffered > HIGH_WATER  # reading pauses exactly when the buffer passes the mark
        self.buffered = 0
        if was_paused and self.transport is not None:
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        transport, self.transport = self.transport, None
        if self.state in _EXCHANGING:  # a reader may be waiting: it learns now, not at its timeout
            self._fail(Disconnected("the connection was closed before the answer was complete"))
        if not self.complete:
            self.state = ConnectionState.CLOSED
        elif self.state is ConnectionState.DONE:
            self.state = ConnectionState.FINAL
        if transport is not None:
            transport.close()
        self._on_close(self)

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


__all__ = ["HIGH_WATER", "Connection", "ConnectionState", "Origin"]
