"""``/ws/metrics`` and ``/ws/chat/{model}``.

Both take an API key as an ``Authorization`` header, a ``token`` query parameter, or a first message
``{"type": "auth", "token": "..."}``; ``/ws/metrics`` also takes the console's session cookie. Every
message to the client goes through a bounded :class:`~citadel.live.outbox.Outbox`: a client that reads
slower than it is sent to is closed with 1013 once ``live.send_buffer`` messages wait for it.

``/ws/chat/{model}``: each message from the client is one chat request (OpenAI's body; ``model`` is the
path's, ``stream`` is always on), answered as ``start``, ``chunk`` (OpenAI's chunk objects), then ``done``
or ``error`` messages; several turns per connection, one at a time. ``{"type": "cancel"}`` stops the turn
running, as closing the socket does; a stopped turn is logged as 499 like a dropped HTTP stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from citadel.errors import AuthenticationError, CitadelError, InvalidRequest, error_body
from citadel.live.bridge import CHAT, SseEvents, new_request_id, relay, to_sink
from citadel.live.callers import Caller, bearer, key_caller
from citadel.live.connect import StreamRecord, session_caller
from citadel.live.outbox import Outbox, SlowReader, pump
from citadel.live.state import LiveServices, live_of
from citadel.live.status import StatusReader

logger = logging.getLogger(__name__)

AUTH_WAIT_S = 10.0
CLOSE_POLICY = 1008  # bad credentials, a bad first message
CLOSE_TRY_LATER = 1013  # dropped as too slow, or too many streams open

router = APIRouter()


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def _error_message(error: CitadelError) -> str:
    body = error_body(error.message, error.error_type, error.param, error.code)
    return _dump({"type": "error", "status": error.status_code, **body})


async def _refuse(websocket: WebSocket, error: CitadelError, code: int) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_text(_error_message(error))
        await websocket.close(code)


async def _authenticate(
    websocket: WebSocket, live: LiveServices, token: str | None, *, sessions: bool
) -> tuple[Caller, dict[str, Any] | None]:
    """The caller, and the first message if it was not an auth one (it is then the first request).

    ``sessions``: a console session cookie will do (the metrics feed); a chat needs a key of its own.
    """
    authorization = bearer(websocket.headers, token)
    first: dict[str, Any] | None = None
    if authorization is None and live.gateway.governance.settings.auth.enabled:
        session = await session_caller(live, websocket.cookies, websocket.headers) if sessions else None
        if session is not None:
            return session, None
        try:
            first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_WAIT_S))
        except (TimeoutError, ValueError) as exc:
            raise AuthenticationError('Send an API key first: {"type": "auth", "token": "..."}.') from exc
        if isinstance(first, dict) and first.get("type") == "auth" and isinstance(first.get("token"), str):
            authorization, first = f"Bearer {first['token']}", None
    caller = await key_caller(live.gateway.governance, authorization)
    return caller, first


async def _close_slow(websocket: WebSocket, live: LiveServices, endpoint: str) -> None:
    live.metrics.dropped.labels("ws", endpoint).inc()
    await close_within(websocket, CLOSE_TRY_LATER, live.settings.stall_timeout_s)


async def close_within(websocket: WebSocket, code: int, timeout_s: float) -> None:
    """Close, but give up after ``timeout_s``: a close frame cannot pass a stalled reader either. The
    server then drops the connection when the handler returns."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
        async with asyncio.timeout(timeout_s):
            await websocket.close(code, "reader too slow")


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


@router.websocket("/ws/metrics")
async def ws_metrics(websocket: WebSocket, interval: float | None = None, token: str | None = None) -> None:
    """A snapshot of the gateway every ``interval`` seconds (default ``live.metrics_interval_s``)."""
    live = live_of(websocket.app.state)
    await websocket.accept()
    record = StreamRecord(live, "/ws/metrics", "ws")
    try:
        caller, _ = await _authenticate(websocket, live, token, sessions=True)
        every = live.interval(interval)
    except CitadelError as exc:
        live.metrics.refused.labels("ws", "auth").inc()
        await _refuse(websocket, exc, CLOSE_POLICY)
        return
    record.key_id = caller.key_id
    try:
        with (
            live.slots.hold(caller.identity),
            live.metrics.connections.labels("ws", "/ws/metrics").track_inprogress(),
        ):
            await _feed(websocket, live, every)
    except CitadelError as exc:
        live.metrics.refused.labels("ws", "limit").inc()
        record.status, record.error = exc.status_code, exc.code
        await _refuse(websocket, exc, CLOSE_TRY_LATER)
    except SlowReader:
        record.status, record.error = 499, "slow_reader"
        await _close_slow(websocket, live, "/ws/metrics")
    finally:
        record.close()


async def _feed(websocket: WebSocket, live: LiveServices, every: float) -> None:
    reader = StatusReader(live.gateway)

    async def produce(outbox: Outbox[str]) -> None:
        while True:
            outbox.offer(_dump(reader.snapshot()))
            await asyncio.sleep(every)

    feed = asyncio.create_task(pump(produce, websocket.send_text, limit=live.settings.send_buffer))
    closed = asyncio.create_task(_until_closed(websocket))
    try:
        await asyncio.wait({feed, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (feed, closed):
            task.cancel()
        await asyncio.gather(feed, closed, return_exceptions=True)
    if feed.done() and not feed.cancelled() and feed.exception() is not None:
        exception = feed.exception()
        if not isinstance(exception, WebSocketDisconnect):
            assert exception is not None
            raise exception


class _Turn:
    """One chat request on a connection; ``cancel`` stops it as a closed connection would."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.answering = False  # the answer has begun: it stops at its next chunk

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def cancel(self) -> None:
        self.stop.set()
        if not self.answering and self.task is not None:
            self.task.cancel()  # still waiting for the model: nothing to stop but the wait


class _TurnSink:
    """A chat answer as WebSocket messages: ``chunk`` per SSE event, ``error`` for an error answer."""

    def __init__(self, outbox: Outbox[str], turn: _Turn, request_id: str, stall_s: float) -> None:
        self._outbox = outbox
        self._stall_s = stall_s
        self._turn = turn
        self._request_id = request_id
        self._events = SseEvents()
        self._status = 0
        self._stream = False
        self._body = b""

    def start(self, status: int, content_type: str) -> None:
        self._status = status
        self._stream = status == 200 and "event-stream" in content_type
        self._turn.answering = True

    async def body(self, chunk: bytes) -> None:
        if not self._stream:
            self._body += chunk
            return
        for data in self._events.feed(chunk):
            if data == "[DONE]":
                continue
            try:
                parsed = json.loads(data)
            except ValueError:
                continue
            kind = "error" if isinstance(parsed, dict) and "error" in parsed else "chunk"
            if kind == "error":
                message = _dump({"type": "error", "status": 502, **parsed})
            else:
                message = _dump({"type": "chunk", "data": parsed})
            await self._outbox.put(message, self._stall_s)

    async def finish(self, cancelled: bool) -> None:
        if not self._stream and self._body:
            try:
                parsed = json.loads(self._body)
            except ValueError:
                parsed = {"error": {"message": self._body.decode("utf-8", "replace")}}
            kind = "error" if self._status >= 400 else "completion"
            payload = {"status": self._status, **parsed} if kind == "error" else {"data": parsed}
            self._outbox.offer(_dump({"type": kind, **payload}))
        done = {
            "type": "done",
            "request_id": self._request_id,
            "cancelled": cancelled,
            "status": self._status,
        }
        self._outbox.offer(_dump(done))


@router.websocket("/ws/chat/{model}")
async def ws_chat(websocket: WebSocket, model: str, token: str | None = None) -> None:
    """Chat with ``model``, streamed, several turns per connection."""
    live = live_of(websocket.app.state)
    await websocket.accept()
    record = StreamRecord(live, "/ws/chat", "ws", model=model)
    try:
        caller, first = await _authenticate(websocket, live, token, sessions=False)
    except CitadelError as exc:
        live.metrics.refused.labels("ws", "auth").inc()
        await _refuse(websocket, exc, CLOSE_POLICY)
        return
    record.key_id = caller.key_id
    try:
        with (
            live.slots.hold(caller.identity),
            live.metrics.connections.labels("ws", "/ws/chat").track_inprogress(),
        ):
            await _chat(websocket, live, caller, model, first)
    except CitadelError as exc:
        live.metrics.refused.labels("ws", "limit").inc()
        record.status, record.error = exc.status_code, exc.code
        await _refuse(websocket, exc, CLOSE_TRY_LATER)
    except SlowReader:
        record.status, record.error = 499, "slow_reader"
        await _close_slow(websocket, live, "/ws/chat")
    except WebSocketDisconnect:
        pass
    finally:
        record.close()
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()


async def _chat(
    websocket: WebSocket, live: LiveServices, caller: Caller, model: str, first: dict[str, Any] | None
) -> None:
    services = live.gateway
    headers = {"authorization": caller.authorization} if caller.authorization else {}
    turn: _Turn | None = None

    async def answer(body: dict[str, Any], outbox: Outbox[str], turn: _Turn) -> None:
        stop = turn.stop
        request_id = new_request_id()
        stall_s = live.settings.stall_timeout_s
        sink = _TurnSink(outbox, turn, request_id, stall_s)
        await outbox.put(_dump({"type": "start", "request_id": request_id, "model": model}), stall_s)
        raw = json.dumps({**body, "model": model, "stream": True}).encode()
        try:
            await relay(
                services, CHAT, raw, headers, to_sink(sink), transport="ws", stop=stop, request_id=request_id
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not stop.is_set() or task is None or task.uncancel() > 0:
                raise  # the connection is going: not the client's cancel message
        await sink.finish(stop.is_set())

    async def produce(outbox: Outbox[str]) -> None:
        nonlocal turn
        pending = first
        # A turn that fails (its reader too slow) ends the group, and so the connection.
        async with asyncio.TaskGroup() as turns:
            while True:
                message = pending if pending is not None else await _next_message(websocket, outbox)
                pending = None
                if message is None or message.get("type") == "auth":
                    continue
                running = turn is not None and turn.running
                if message.get("type") == "cancel":
                    if turn is not None and running:
                        turn.cancel()
                    continue
                if running:
                    busy = InvalidRequest("A turn is running; cancel it or wait for done.", code="busy")
                    outbox.offer(_error_message(busy))
                    continue
                body = {key: value for key, value in message.items() if key != "type"}
                turn = _Turn()
                turn.task = turns.create_task(answer(body, outbox, turn), name="citadel-ws-turn")

    await pump(produce, websocket.send_text, limit=live.settings.send_buffer)


async def _next_message(websocket: WebSocket, outbox: Outbox[str]) -> dict[str, Any] | None:
    """The client's next message as an object; a malformed one is answered with an error, then skipped."""
    text = await websocket.receive_text()
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        outbox.offer(_error_message(InvalidRequest("Each message is one JSON object.", code="bad_message")))
        return None
    return message
