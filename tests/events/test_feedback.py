"""``POST /v1/feedback``: stored for a request the caller's key made, published to ``user_feedback``, shown in
``/admin/usage``; unknown or foreign request ids, values out of range and a second rating are 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Request

from citadel.events.feedback_routes import feedback_router
from citadel.events.gateway import GatewayEvents
from citadel.events.topics import ensure_topics
from citadel.governance import Governance
from tests.events.broker import TansuBroker
from tests.events.kafka import Collector, event_settings
from tests.governance.app import governed_app

pytestmark = pytest.mark.timeout(90)

ADMIN = {"authorization": "Bearer admin-secret-for-tests"}


@pytest.fixture
async def stack(tmp_path: Path, broker: TansuBroker) -> AsyncIterator[tuple[httpx.AsyncClient, TansuBroker]]:
    auth = {"enabled": True, "admin_key": "admin-secret-for-tests", "key_cache_ttl_s": 0}
    settings = event_settings(tmp_path, broker, sections={"auth": auth})
    await ensure_topics(settings.events)
    events = GatewayEvents.open(settings)
    assert events is not None
    governance = await Governance.open(settings, events=events)
    app = governed_app(governance)

    def governance_of(request: Request) -> Governance:
        return governance

    def events_of(request: Request) -> GatewayEvents | None:
        return events

    app.include_router(feedback_router(governance_of, events_of))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://citadel.test") as client:
            yield client, broker
    finally:
        await governance.aclose()
        await events.aclose()


async def _key(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/admin/keys", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


async def _request(client: httpx.AsyncClient, secret: str, request_id: str) -> None:
    headers = {"authorization": f"Bearer {secret}", "x-request-id": request_id}
    response = await client.post("/v1/chat/completions", json={"model": "m"}, headers=headers)
    assert response.status_code == 200


async def _feedback(client: httpx.AsyncClient, secret: str, **body: object) -> httpx.Response:
    return await client.post("/v1/feedback", json=body, headers={"authorization": f"Bearer {secret}"})


async def test_feedback_is_stored_published_and_in_usage(
    stack: tuple[httpx.AsyncClient, TansuBroker],
) -> None:
    client, broker = stack
    alice, bob = await _key(client, "alice"), await _key(client, "bob")
    await _request(client, alice, "req-alice")
    await _request(client, bob, "req-bob")
    for _ in range(50):  # the request log is written a moment after the answer
        response = await _feedback(
            client,
            alice,
            request_id="req-alice",
            rating=5,
            accuracy=0.9,
            helpful=True,
            business_value=12.5,
            comment="saved an hour",
        )
        if response.status_code != 404:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body | {"created_at": None} == {
        "object": "feedback",
        "request_id": "req-alice",
        "model": "m",
        "rating": 5,
        "accuracy": 0.9,
        "helpful": True,
        "business_value": 12.5,
        "currency": "USD",
        "created_at": None,
    }
    again = await _feedback(client, alice, request_id="req-alice", rating=1)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "feedback_exists"
    foreign = await _feedback(client, alice, request_id="req-bob", rating=3)
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "request_not_found"
    unknown = await _feedback(client, alice, request_id="req-nobody", rating=3)
    assert unknown.status_code == 404
    for bad in (
        {"rating": 0},
        {"rating": 6},
        {"rating": 3, "accuracy": 1.5},
        {"rating": 3, "business_value": -1},
        {"rating": 3, "surprise": 1},
        {"rating": "x"},
    ):
        refused = await _feedback(client, bob, request_id="req-bob", **bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
    nokey = await client.post("/v1/feedback", json={"request_id": "req-bob", "rating": 3})
    assert nokey.status_code == 401
    usage = (await client.get("/admin/usage", headers=ADMIN)).json()["data"]
    rows = {row["key_name"]: row for row in usage}
    assert (rows["alice"]["feedback"], rows["alice"]["mean_rating"], rows["alice"]["business_value"]) == (
        1,
        5.0,
        12.5,
    )
    assert (rows["bob"]["feedback"], rows["bob"]["mean_rating"]) == (0, None)
    async with Collector(broker.bootstrap, "user_feedback") as collector:
        [(_, event)] = await collector.until(1, timeout_s=15)
    assert event.type == "feedback_submitted"
    assert event.key == "req-alice"
    assert event.data["rating"] == 5
    assert "comment" not in event.data  # free text stays in the database
    async with Collector(broker.bootstrap, "business_events") as collector:
        business = await collector.until(2, timeout_s=15)
    assert sorted(event.type for _, event in business) == ["key_created", "key_created"]
    assert all("secret" not in str(event.data) for _, event in business)
