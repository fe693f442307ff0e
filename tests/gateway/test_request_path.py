"""The gateway's whole request path, in-process, in front of real model services: API keys and tiers,
the request log, the response cache (JSON and streams) and retrieval-augmented chat."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from tests.helpers import MINILM_NAME, SMOLLM2_NAME, free_port, minilm_model, smollm2_model, write_config

ADMIN = "test-admin-key-6f1c2d9e8a7b4c3d"
CHAT = {
    "model": SMOLLM2_NAME,
    "messages": [{"role": "user", "content": "Say hi."}],
    "max_tokens": 6,
    "temperature": 0,
}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _config(tmp_path: Path, model_url: str, embedding_url: str) -> Path:
    return write_config(
        tmp_path,
        {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [smollm2_model(_port(model_url)), minilm_model(_port(embedding_url))],
            "auth": {"enabled": True, "admin_key": ADMIN},
            "rate_limits": {
                "tiers": {
                    "default": {"requests_per_minute": 100},
                    "tiny": {"requests_per_minute": 2},
                },
            },
            "vectors": {"embedding_model": MINILM_NAME, "collections": ["docs"]},
        },
    )


class Gateway:
    def __init__(self, client: httpx.AsyncClient, database: Path) -> None:
        self.client = client
        self.database = database

    async def new_key(self, **spec: Any) -> str:
        response = await self.client.post("/admin/keys", json={"name": "app", **spec}, headers=_bearer(ADMIN))
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        return secret


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


@pytest.fixture
async def gateway(tmp_path: Path, model_url: str, embedding_url: str) -> AsyncIterator[Gateway]:
    settings = load_settings(_config(tmp_path, model_url, embedding_url))
    app = create_gateway_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client,
    ):
        yield Gateway(client, tmp_path / "var" / "citadel.db")


async def test_keys_gate_every_proxied_endpoint(gateway: Gateway) -> None:
    client = gateway.client
    missing = await client.post("/v1/chat/completions", json=CHAT)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert (
        await client.post("/v1/chat/completions", json=CHAT, headers=_bearer("ctd_forged"))
    ).status_code == 401
    secret = await gateway.new_key(models=[SMOLLM2_NAME])
    answered = await client.post("/v1/chat/completions", json=CHAT, headers=_bearer(secret))
    assert answered.status_code == 200
    assert int(answered.headers["x-ratelimit-remaining-requests"]) >= 0
    forbidden = await client.post(
        "/v1/embeddings", json={"model": MINILM_NAME, "input": "x"}, headers=_bearer(secret)
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["type"] == "permission_error"
    models = (await client.get("/v1/models", headers=_bearer(secret))).json()["data"]
    assert [card["id"] for card in models] == [SMOLLM2_NAME]
    assert (await client.get("/admin/keys", headers=_bearer(secret))).status_code == 403


async def test_a_tier_over_its_limit_gets_429_with_retry_after(gateway: Gateway) -> None:
    secret = await gateway.new_key(tier="tiny")
    statuses = []
    for _ in range(3):
        response = await gateway.client.post(
            "/v1/completions",
            json={"model": SMOLLM2_NAME, "prompt": "Hi", "max_tokens": 1},
            headers=_bearer(secret),
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-limit-requests"] == "2"
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_cached_answers_are_replayed_and_every_request_is_logged(
    tmp_path: Path, model_url: str, embedding_url: str
) -> None:
    settings = load_settings(_config(tmp_path, model_url, embedding_url))
    app = create_gateway_app(settings)
    ids: list[str] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=120
        ) as client,
    ):
        gateway = Gateway(client, tmp_path / "var" / "citadel.db")
        headers = _bearer(await gateway.new_key())
        first = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
        second = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert (first.headers["x-citadel-cache"], second.headers["x-citadel-cache"]) == ("miss", "hit")
        assert second.content == first.content
        stream = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        streamed = await client.post("/v1/chat/completions", json=stream, headers=headers)
        replayed = await client.post("/v1/chat/completions", json=stream, headers=headers)
        assert replayed.headers["x-citadel-cache"] == "hit"
        assert replayed.content == streamed.content
        uncached = await client.post(
            "/v1/chat/completions", json=CHAT, headers={**headers, "x-citadel-cache": "off"}
        )
        assert "x-citadel-cache" not in uncached.headers
        ids = [r.headers["x-request-id"] for r in (first, second, streamed, replayed, uncached)]
    # Closing the gateway flushed the request log.
    with sqlite3.connect(tmp_path / "var" / "citadel.db") as db:
        rows = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT request_id, status_code, cache_hit, prompt_tokens, completion_tokens, served_model "
                "FROM request_log"
            )
        }
    assert set(ids) <= set(rows)
    usage = first.json()["usage"]
    assert rows[ids[0]] == (200, 0, usage["prompt_tokens"], usage["completion_tokens"], SMOLLM2_NAME)
    assert rows[ids[1]][:4] == (200, 1, 0, 0)  # a hit costs no tokens
    assert rows[ids[2]][3] == json.loads(streamed.text.split("data: ")[-2])["usage"]["completion_tokens"]
    assert rows[ids[3]][1] == 1


async def test_retrieval_puts_the_stored_passage_in_front_of_the_model(gateway: Gateway) -> None:
    client = gateway.client
    headers = _bearer(await gateway.new_key())
    fact = "The Citadel gateway listens on port 8000 and the model services on 11400 to 11403."
    added = await client.post(
        "/v1/vectors/docs/points",
        json={"points": [{"text": fact}, {"text": "Bananas are berries."}]},
        headers=headers,
    )
    assert added.status_code == 200, added.text
    question = {**CHAT, "messages": [{"role": "user", "content": "Which port does the gateway use?"}]}
    plain = await client.post("/v1/chat/completions", json={**question, "max_tokens": 1}, headers=headers)
    augmented = await client.post(
        "/v1/chat/completions",
        json={**question, "max_tokens": 1, "citadel": {"retrieval": {"collection": "docs", "top_k": 1}}},
        headers=headers,
    )
    assert augmented.status_code == 200, augmented.text
    # What the gateway adds is in headers; the answer's body is the model's, byte for byte.
    assert "citadel" not in augmented.json()
    assert augmented.headers["x-citadel-retrieval-collection"] == "docs"
    used = [
        int(point) if point.isdigit() else point
        for point in augmented.headers["x-citadel-retrieval"].split(",")
    ]
    assert len(used) == 1
    search = await client.post(
        "/v1/vectors/docs/search", json={"text": "gateway port", "limit": 1}, headers=headers
    )
    assert search.json()["data"][0]["id"] == used[0]
    # The passage reached the model: the prompt grew by about its length in tokens.
    assert augmented.json()["usage"]["prompt_tokens"] > plain.json()["usage"]["prompt_tokens"] + 10
