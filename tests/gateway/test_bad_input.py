"""Every bad input is a 4xx in OpenAI's error shape, answered fast: through the gateway (its fast path and its
FastAPI routes) in front of real model services, and at the model and embedding services themselves."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from citadel.config import load_settings
from citadel.errors import install_error_handlers
from citadel.gateway.app import create_gateway_app
from citadel.gateway.routing import Router
from citadel.gateway.services import services_of
from citadel.http_body import MAX_DEPTH, gateway_body_limit
from tests.helpers import MINILM_NAME, SMOLLM2_NAME, free_port, minilm_model, smollm2_model, write_config

CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
EMBED = {"model": MINILM_NAME, "input": ["shipping delay"]}
DEEP = 10_000


def _with(body: dict[str, Any], raw_value: str, *, key: str) -> bytes:
    """``body`` as JSON with ``key`` set to the raw JSON text ``raw_value`` (json.dumps cannot write it)."""
    marker = "__raw__"
    return json.dumps({**body, key: marker}).replace(f'"{marker}"', raw_value).encode()


def _message(raw_content: str) -> bytes:
    return _with(CHAT, f'[{{"role": "user", "content": {raw_content}}}]', key="messages")


# What reached a 500, a traceback or a 24 s read in the issue, and its neighbours; each must be a 400.
MALFORMED: dict[str, bytes] = {
    "nested 10,000 arrays deep": _with(CHAT, "[" * DEEP + "]" * DEEP, key="messages"),
    "a body that is only nesting": b"[" * DEEP + b"]" * DEEP,
    "nested objects": _with(CHAT, '{"a":' * DEEP + "1" + "}" * DEEP, key="metadata"),
    "a lone surrogate in a message": _message('"hi \\ud800 there"'),
    "a lone low surrogate in a key": _with(CHAT, '{"\\udc00": 1}', key="metadata"),
    "invalid UTF-8": _message('"caf\xe9"').replace(b"caf\xc3\xa9", b"caf\xe9"),
    "a truncated body": json.dumps(CHAT).encode()[:-7],
    "NaN": _with(CHAT, "NaN", key="temperature"),
    "Infinity": _with(CHAT, "Infinity", key="temperature"),
    "-Infinity": _with(CHAT, "-Infinity", key="top_p"),
    "1e999": _with(CHAT, "1e999", key="temperature"),
    "a 401-digit integer": _with(CHAT, "1" + "0" * 400, key="max_tokens"),
    "a 5,000-digit integer": _with(CHAT, "9" * 5000, key="seed"),
}
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "model a number": {**CHAT, "model": 5},
    "stream a string": {**CHAT, "stream": "yes"},
    "messages a string": {**CHAT, "messages": "hi"},
    "a message a string": {**CHAT, "messages": ["hi"]},
    "content a number": {**CHAT, "messages": [{"role": "user", "content": 5}]},
    "a part's text a number": {
        **CHAT,
        "messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}],
    },
    "max_tokens a string": {**CHAT, "max_tokens": "ten"},
    "stream_options a list": {**CHAT, "stream": True, "stream_options": [1]},
    "temperature a string": {**CHAT, "temperature": "hot"},
    "an unknown role": {**CHAT, "messages": [{"role": "robot", "content": "hi"}]},
    "top_k beyond any vocabulary": {**CHAT, "top_k": 2**40},
}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _assert_openai_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    return error


@pytest.fixture
async def gateway(tmp_path: Path, model_url: str, embedding_url: str) -> AsyncIterator[httpx.AsyncClient]:
    models = [smollm2_model(_port(model_url)), minilm_model(_port(embedding_url))]
    config = write_config(
        tmp_path, {"gateway": {"port": free_port(), "health_interval_s": 3600}, "models": models}
    )
    app = create_gateway_app(load_settings(config))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=120
        ) as client,
    ):
        yield client


@pytest.mark.parametrize("origin", [None, "http://app.example"], ids=["fast path", "FastAPI route (CORS)"])
async def test_malformed_bodies_are_400s_at_the_gateway(
    gateway: httpx.AsyncClient, origin: str | None
) -> None:
    headers = {"content-type": "application/json", **({"origin": origin} if origin else {})}
    for name, body in MALFORMED.items():
        response = await gateway.post("/v1/chat/completions", content=body, headers=headers)
        error = _assert_openai_error(response)
        assert "x-request-id" in response.headers, name
        if "surrogate" in name:
            assert "surrogate" in error["message"], error
        if "deep" in name or "nesting" in name or "objects" in name:
            assert f"deeper than {MAX_DEPTH}" in error["message"], error
    # Still serving, and the same request without the fault is answered.
    answer = await gateway.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert answer.status_code == 200, answer.text


async def test_wrong_types_are_400s_naming_the_field(gateway: httpx.AsyncClient) -> None:
    for name, body in WRONG_TYPES.items():
        response = await gateway.post("/v1/chat/completions", json=body)
        error = _assert_openai_error(response)
        assert error["param"], (name, error)
    completion = {"model": SMOLLM2_NAME, "prompt": {"text": 1}, "max_tokens": 2}
    _assert_openai_error(await gateway.post("/v1/completions", json=completion))
    # Token ids are input too (a list of ints, or of lists of ints); a mix of ids and text is not.
    mixed = {**EMBED, "input": [[1, "two"]]}
    for bad in ({**EMBED, "input": 5}, mixed, {**EMBED, "input": [-1]}, {**EMBED, "encoding_format": "hex"}):
        _assert_openai_error(await gateway.post("/v1/embeddings", json=bad))
    _assert_openai_error(
        await gateway.post("/v1/embeddings", content=_with(EMBED, '["\\ud83d"]', key="input"))
    )


@pytest.mark.parametrize("service", ["model", "embedding"])
async def test_the_services_answer_bad_bodies_with_400s(
    model_url: str, embedding_url: str, service: str
) -> None:
    url, path, valid = (
        (model_url, "/v1/chat/completions", CHAT)
        if service == "model"
        else (embedding_url, "/v1/embeddings", EMBED)
    )
    bodies = dict(MALFORMED)
    bodies["lone surrogate in the input"] = _with(valid, '"\\udfff"', key="input")
    bodies["a 401-digit number of dimensions"] = _with(valid, "1" + "0" * 400, key="dimensions")
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for name, body in bodies.items():
            if service == "embedding":
                body = body.replace(json.dumps(SMOLLM2_NAME).encode(), json.dumps(MINILM_NAME).encode())
            response = await client.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, (name, response.status_code, response.text[:300])
            _assert_openai_error(response)
        if service == "model":
            for name, wrong in WRONG_TYPES.items():
                if name != "model a number":  # the service ignores a missing model; a number is a type error
                    _assert_openai_error(await client.post(path, json=wrong))
            tokenize = await client.post("/tokenize", content=b'{"prompt": "\\ud800"}')
            _assert_openai_error(tokenize)
        assert (await client.post(path, json=valid)).status_code == 200


def _raw_exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send a request's head (and optionally some body), then read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b'"error"' in received and received.rstrip().endswith(b"}"):
                break
        return received


def test_a_model_service_refuses_an_oversized_body_before_reading_it(model_url: str) -> None:
    # 100 MB announced, none sent: the 413 comes back all the same, so nothing waited for the body.
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100000000\r\n\r\n"
    )
    answer = _raw_exchange(_port(model_url), head, b'{"model": "')
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_too_large"
    assert error["type"] == "invalid_request_error"


async def test_the_gateway_bounds_bodies_by_length_and_while_reading(tmp_path: Path) -> None:
    models = [smollm2_model(free_port(), limits={"max_model_len": 65536})]
    config = write_config(
        tmp_path, {"gateway": {"port": free_port(), "health_interval_s": 3600}, "models": models}
    )
    settings = load_settings(config)
    limit = gateway_body_limit(settings)
    assert limit == 65536 * 32  # the longest configured context window at 32 bytes per token
    app = create_gateway_app(settings)
    async with app.router.lifespan_context(app):
        for headers in ([(b"content-length", str(limit + 1).encode())], [(b"transfer-encoding", b"chunked")]):
            for origin in ([], [(b"origin", b"http://app.example")]):
                taken, status, body = await _post_in_chunks(
                    app, headers + origin, chunk=64 * 1024, chunks=1000
                )
                assert status == 413, body
                assert json.loads(body)["error"]["code"] == "request_too_large"
                # Declared too long: nothing read. Chunked: reading stopped right past the limit.
                assert taken == (0 if headers[0][0] == b"content-length" else limit // (64 * 1024) + 1)


async def _post_in_chunks(
    app: FastAPI, headers: list[tuple[bytes, bytes]], *, chunk: int, chunks: int
) -> tuple[int, int, bytes]:
    """POST ``chunks`` body messages of ``chunk`` bytes straight to the ASGI app; how many it took, and the
    answer's status and body."""
    taken = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b" " * chunk, "more_body": taken < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"gw"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(int(m["status"]) for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return taken, status, body


async def test_a_bug_on_the_fast_path_is_a_500_with_the_request_id_logged_once(
    tmp_path: Path, model_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    models = [smollm2_model(_port(model_url))]
    config = write_config(
        tmp_path, {"gateway": {"port": free_port(), "health_interval_s": 3600}, "models": models}
    )
    app = create_gateway_app(load_settings(config))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=120
        ) as client,
    ):
        routing: Router = services_of(app.state).routing
        resolve = routing.resolve

        def broken(*args: Any) -> Any:
            raise ZeroDivisionError("a bug in routing")

        routing.resolve = broken  # type: ignore[method-assign,assignment]
        with caplog.at_level(logging.ERROR):
            failed = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "bug-1"})
        routing.resolve = resolve  # type: ignore[method-assign]
        error = _assert_openai_error(failed, 500)
        assert failed.headers["x-request-id"] == "bug-1"
        assert "bug-1" in error["message"]
        assert error["code"] == "internal_error"
        assert "a bug in routing" not in error["message"]  # the client gets the id, not the internals
        logged = [record for record in caplog.records if record.exc_info is not None]
        assert len(logged) == 1
        assert "bug-1" in logged[0].getMessage()
        assert logged[0].exc_info is not None
        assert logged[0].exc_info[0] is ZeroDivisionError
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200  # still serving
    with sqlite3.connect(tmp_path / "var" / "citadel.db") as db:
        row = db.execute(
            "SELECT status_code, error_type FROM request_log WHERE request_id = 'bug-1'"
        ).fetchone()
    assert row == (500, "internal_error")


async def test_a_bug_in_a_service_route_is_json_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/boom")
    async def boom() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.post("/boom", headers={"x-request-id": "req-7"})
    error = _assert_openai_error(response, 500)
    assert "req-7" in error["message"]
    assert response.headers["x-request-id"] == "req-7"
    assert len([record for record in caplog.records if record.exc_info]) == 1
