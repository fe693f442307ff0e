"""The gateway served by uvicorn with :class:`GatewayProtocol`, over real sockets: the proxied endpoints'
short way in keeps HTTP/1.1's rules (keep-alive, pipelining, chunked streams, ``Connection: close``,
HTTP/1.0, ``Expect: 100-continue``, the body bound) and leaves every other request to FastAPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from citadel.config import load_settings
from citadel.gateway import http_protocol
from citadel.gateway.app import create_gateway_app
from citadel.gateway.http_protocol import DirectCycle, GatewayProtocol
from tests.gateway.fake_upstream import COMPLETION, Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, served_in_process, write_config

CHAT = json.dumps({"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}).encode()
STREAM = json.dumps(
    {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
).encode()


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = False


class _Parsed:
    """httptools' callbacks, collecting every response on a connection in order."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self._parser = httptools.HttpResponseParser(self)

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.answers.append(Answer())

    def on_header(self, name: bytes, value: bytes) -> None:
        self.answers[-1].headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.answers[-1].status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.answers[-1].body += body

    def on_message_complete(self) -> None:
        self.answers[-1].complete = True


async def _exchange(
    port: int, data: bytes, answers: int, *, timeout_s: float = 30
) -> tuple[list[Answer], bool]:
    """Send ``data`` on one connection; the first ``answers`` responses, and whether the server then
    closed the connection (within a moment)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parsed = _Parsed()
    try:
        writer.write(data)
        async with asyncio.timeout(timeout_s):
            while sum(answer.complete for answer in parsed.answers) < answers:
                chunk = await reader.read(65536)
                assert chunk, f"connection closed after {len(parsed.answers)} answers"
                parsed.feed(chunk)
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.5) == b""
        except TimeoutError:
            closed = False
    finally:
        writer.close()
    return parsed.answers, closed


def _post(path: str, body: bytes, *extra: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: gateway", "Content-Type: application/json"]
    head += [f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def direct_cycles(monkeypatch: pytest.MonkeyPatch) -> list[DirectCycle]:
    """Every DirectCycle the protocol makes (the short way in), in order."""
    made: list[DirectCycle] = []

    class Counted(DirectCycle):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(http_protocol, "DirectCycle", Counted)
    return made


@asynccontextmanager
async def _served(
    tmp_path: Path, script: Script, *, exporter: InMemorySpanExporter | None = None, **gateway: Any
) -> AsyncIterator[int]:
    """The gateway in front of ``script``'s upstream, served by uvicorn with GatewayProtocol; its port."""
    async with fake_upstream(script) as upstream:
        port = free_port()
        config = write_config(
            tmp_path,
            {
                "gateway": {"port": port, "health_interval_s": 3600, **gateway},
                "models": [remote_model("fake", upstream)],
            },
        )
        app = create_gateway_app(load_settings(config), span_exporter=exporter)
        async with served_in_process(app, port, http=GatewayProtocol):
            yield port


async def test_pipelined_requests_on_one_connection_are_answered_in_order(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    script = Script()
    async with _served(tmp_path, script) as port:
        health = b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n"
        sent = _post("/v1/chat/completions", CHAT, "x-request-id: first") + health
        sent += _post("/v1/chat/completions", CHAT, "x-request-id: second")
        (first, checked, second), closed = await _exchange(port, sent, 3)
    assert not closed  # keep-alive
    for answer, request_id in ((first, "first"), (second, "second")):
        assert answer.status == 200
        assert json.loads(answer.body) == COMPLETION  # the upstream's answer, as it sent it
        assert answer.headers["content-length"] == str(len(answer.body))
        assert answer.headers["x-request-id"] == request_id
        assert "date" in answer.headers
    assert checked.status == 200
    assert json.loads(checked.body)["status"]
    assert script.seen_request_ids == ["first", "second"]
    assert len(direct_cycles) == 2  # the chat requests took the short way; /health went through FastAPI


async def test_a_stream_is_sent_chunked_and_whole(tmp_path: Path, direct_cycles: list[DirectCycle]) -> None:
    async with _served(tmp_path, Script(stream_events=4, event_interval_s=0.01)) as port:
        (answer,), _ = await _exchange(port, _post("/v1/chat/completions", STREAM), 1)
    assert answer.status == 200
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["content-type"].startswith("text/event-stream")
    # httptools hands on_body the chunks' data: the body as the client reads it.
    events = [line for line in answer.body.decode().splitlines() if line.startswith("data: ")]
    assert [json.loads(event[6:])["choices"][0]["delta"]["content"] for event in events[:-1]] == [
        "t0",
        "t1",
        "t2",
        "t3",
    ]
    assert events[-1] == "data: [DONE]"
    assert len(direct_cycles) == 1


async def test_connection_close_and_http_1_0_end_the_connection_after_the_answer(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    async with _served(tmp_path, Script()) as port:
        (closing,), closed = await _exchange(
            port, _post("/v1/chat/completions", CHAT, "Connection: close"), 1
        )
        assert closing.status == 200
        assert closing.headers["connection"] == "close"
        assert closed
        (old,), closed = await _exchange(port, _post("/v1/chat/completions", CHAT, version="1.0"), 1)
        assert old.status == 200
        assert old.headers["connection"] == "close"
        assert closed
        assert json.loads(old.body) == COMPLETION
    assert len(direct_cycles) == 2


async def test_expect_100_continue_is_answered_before_the_body_is_sent(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    async with _served(tmp_path, Script()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            request = _post("/v1/chat/completions", CHAT, "Expect: 100-continue")
            head, body = request.split(b"\r\n\r\n", 1)
            writer.write(head + b"\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert interim.startswith(b"HTTP/1.1 100 Continue")
            writer.write(body)
            parsed = _Parsed()
            async with asyncio.timeout(30):
                while not (parsed.answers and parsed.answers[0].complete):
                    parsed.feed(await reader.read(65536))
        finally:
            writer.close()
    assert parsed.answers[0].status == 200
    assert len(direct_cycles) == 1


async def test_a_body_over_the_bound_is_refused_in_openai_shape(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    script = Script()
    async with _served(tmp_path, script, max_body_bytes=1024) as port:
        big = json.dumps({"model": "fake", "messages": [{"role": "user", "content": "x" * 2000}]}).encode()
        (refused, after), closed = await _exchange(
            port, _post("/v1/chat/completions", big) + _post("/v1/chat/completions", CHAT), 2
        )
    assert refused.status == 413
    assert json.loads(refused.body)["error"]["type"] == "invalid_request_error"
    assert after.status == 200  # the same connection goes on serving
    assert not closed
    assert script.calls == 1
    assert len(direct_cycles) == 2


async def test_a_browsers_request_goes_through_fastapi_for_cors(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    async with _served(tmp_path, Script()) as port:
        sent = _post("/v1/chat/completions", CHAT, "Origin: http://app.example")
        (answer,), _ = await _exchange(port, sent, 1)
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert json.loads(answer.body) == COMPLETION
    assert direct_cycles == []


async def test_a_traced_gateway_puts_the_short_way_in_a_server_span(
    tmp_path: Path, direct_cycles: list[DirectCycle]
) -> None:
    exporter = InMemorySpanExporter()
    async with _served(tmp_path, Script(), exporter=exporter) as port:
        (answer,), _ = await _exchange(port, _post("/v1/chat/completions", CHAT), 1)
    assert answer.status == 200
    names = [span.name for span in exporter.get_finished_spans()]
    assert "POST /v1/chat/completions" in names
    assert len(direct_cycles) == 1
