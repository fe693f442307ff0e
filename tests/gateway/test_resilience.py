"""Retries, stream cuts, breakers and request ids, against scripted upstreams the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx
import pytest

from citadel.gateway.breaker import ManualClock
from citadel.gateway.services import services_of
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import gateway_app, gateway_client, metric, remote_model, sse_events
from tests.helpers import free_port

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}


async def _breaker_state(gateway: httpx.AsyncClient, replica: int = 0) -> str:
    state: str = (await gateway.get("/health")).json()["models"]["fake"]["replicas"][replica]["breaker"]
    return state


async def test_5xx_is_retried_on_another_replica(tmp_path: Path) -> None:
    bad, good = Script(status=500), Script()
    async with (
        fake_upstream(bad) as bad_url,
        fake_upstream(good) as good_url,
        gateway_client(tmp_path, [remote_model("fake", bad_url, good_url)]) as gateway,
    ):
        responses = [await gateway.post("/v1/chat/completions", json=CHAT) for _ in range(6)]
        metrics = (await gateway.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * 6
    assert all(r.headers["x-citadel-model"] == "fake" for r in responses)
    assert bad.calls > 0
    assert good.calls == 6
    assert metric(metrics, "llm_retries_total", model="fake", reason="status_5xx") == bad.calls
    assert metric(metrics, "llm_requests_total", model="fake", status="success") == 6


async def test_last_5xx_is_passed_through(tmp_path: Path) -> None:
    async with (
        fake_upstream(Script(status=500)) as url,
        gateway_client(tmp_path, [remote_model("fake", url)]) as gateway,
    ):
        response = await gateway.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "boom"


async def test_stream_cut_midway_ends_with_an_error_event(tmp_path: Path) -> None:
    script = Script(cut_stream_after=2)
    async with fake_upstream(script) as url, gateway_client(tmp_path, [remote_model("fake", url)]) as gateway:
        response = await gateway.post("/v1/chat/completions", json={**CHAT, "stream": True})
        metrics = (await gateway.get("/metrics")).text
    assert response.status_code == 200
    events = sse_events(response.text)
    assert len(events) == 3
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:2]] == ["t0", "t1"]
    assert json.loads(events[2])["error"]["code"] == "upstream_failed"
    assert metric(metrics, "llm_requests_total", model="fake", status="error") == 1
    assert metric(metrics, "llm_active_requests", model="fake") == 0


async def test_stream_cut_before_its_first_event_is_retried(tmp_path: Path) -> None:
    broken, good = Script(cut_stream_after=0), Script()
    async with (
        fake_upstream(broken) as broken_url,
        fake_upstream(good) as good_url,
        gateway_client(
            tmp_path, [remote_model("fake", broken_url, good_url, balancing="weighted_round_robin")]
        ) as gateway,
    ):
        responses = [
            await gateway.post("/v1/chat/completions", json={**CHAT, "stream": True}) for _ in range(4)
        ]
    assert broken.calls > 0
    for response in responses:
        assert response.status_code == 200
        assert sse_events(response.text)[-1] == "[DONE]"


async def test_breaker_opens_goes_half_open_and_closes(tmp_path: Path) -> None:
    clock = ManualClock()
    script = Script(status=500)
    breaker = {
        "minimum_calls": 4,
        "failure_threshold": 50,
        "recovery_timeout_s": 60,
        "half_open_max_calls": 2,
    }
    async with (
        fake_upstream(script) as url,
        gateway_client(
            tmp_path, [remote_model("fake", url)], clock=clock, circuit_breaker=breaker, max_attempts=1
        ) as gateway,
    ):
        for _ in range(4):
            assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 500
        refused = await gateway.post("/v1/chat/completions", json=CHAT)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"
        assert script.calls == 4  # the open breaker kept the fifth request off the replica
        assert await _breaker_state(gateway) == "open"

        script.status = 200
        clock.advance(59)
        assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 503
        clock.advance(1)
        assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert await _breaker_state(gateway) == "half_open"
        assert (await gateway.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert await _breaker_state(gateway) == "closed"
        metrics = (await gateway.get("/metrics")).text
    for state in ("open", "half_open", "closed"):
        assert metric(metrics, "llm_circuit_breaker_transitions_total", model="fake", state=state) == 1
    assert metric(metrics, "llm_circuit_breaker_state", model="fake") == 0


async def test_request_id_is_propagated_or_generated(tmp_path: Path) -> None:
    script = Script()
    async with fake_upstream(script) as url, gateway_client(tmp_path, [remote_model("fake", url)]) as gateway:
        given = await gateway.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "req-42"})
        generated = await gateway.post("/v1/chat/completions", json=CHAT)
        error = await gateway.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
        malformed = await gateway.post(
            "/v1/chat/completions", content=b"{not json", headers={"x-request-id": "req-43"}
        )
        another = await gateway.post("/v1/chat/completions", json=CHAT)
    assert given.headers["x-request-id"] == "req-42"
    assert len(generated.headers["x-request-id"]) == 32
    assert another.headers["x-request-id"] != generated.headers["x-request-id"]
    assert (malformed.status_code, malformed.headers["x-request-id"]) == (400, "req-43")
    assert script.seen_request_ids == [
        "req-42",
        generated.headers["x-request-id"],
        another.headers["x-request-id"],
    ]
    assert error.status_code == 404
    assert error.headers["x-request-id"]


async def test_fallback_answers_when_every_replica_is_down(tmp_path: Path) -> None:
    script = Script()
    dead = f"http://127.0.0.1:{free_port()}"
    async with fake_upstream(script) as url:
        models = [remote_model("primary", dead, fallbacks=["fake"]), remote_model("fake", url)]
        async with gateway_client(tmp_path, models) as gateway:
            response = await gateway.post("/v1/chat/completions", json={**CHAT, "model": "primary"})
            metrics = (await gateway.get("/metrics")).text
    assert response.status_code == 200
    assert response.headers["x-citadel-model"] == "fake"
    assert script.seen_models == ["fake"]  # the body was renamed for the model that answered
    assert metric(metrics, "llm_fallbacks_total", model="primary", fallback="fake") == 1


async def test_refused_connections_are_retried_and_mark_the_replica_down(tmp_path: Path) -> None:
    doomed = fake_upstream(Script())
    async with fake_upstream(Script()) as url:
        doomed_url = await doomed.__aenter__()
        async with gateway_client(tmp_path, [remote_model("fake", url, doomed_url)]) as gateway:
            assert (await gateway.get("/health")).json()["models"]["fake"]["replicas"][1][
                "status"
            ] == "healthy"
            await doomed.__aexit__(None, None, None)
            statuses = [(await gateway.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(8)]
            replica = (await gateway.get("/health")).json()["models"]["fake"]["replicas"][1]
            metrics = (await gateway.get("/metrics")).text
    assert statuses == [200] * 8
    assert replica["status"] == "unhealthy"
    # Refused once, marked down at once (nothing listens there), then skipped: one retry in all.
    assert metric(metrics, "llm_retries_total", model="fake", reason="connect") == 1


async def test_browser_requests_still_get_cors_headers(tmp_path: Path) -> None:
    async with (
        fake_upstream(Script()) as url,
        gateway_client(tmp_path, [remote_model("fake", url)]) as gateway,
    ):
        origin = {"origin": "http://app.local"}
        browser = await gateway.post("/v1/chat/completions", json=CHAT, headers=origin)
        sdk = await gateway.post("/v1/chat/completions", json=CHAT)
    assert browser.status_code == sdk.status_code == 200
    assert browser.headers["access-control-allow-origin"] == "*"
    assert browser.headers["x-citadel-model"] == sdk.headers["x-citadel-model"] == "fake"
    assert browser.headers["x-request-id"]


async def test_embeddings_are_forwarded_and_counted(tmp_path: Path) -> None:
    async with (
        fake_upstream(Script()) as url,
        gateway_client(tmp_path, [remote_model("fake", url)]) as gateway,
    ):
        response = await gateway.post("/v1/embeddings", json={"model": "fake", "input": "hi"})
        metrics = (await gateway.get("/metrics")).text
    assert response.status_code == 200
    assert response.json()["data"][0]["embedding"] == [0.5, -0.5]
    assert (
        metric(metrics, "llm_requests_total", model="fake", endpoint="/v1/embeddings", status="success") == 1
    )
    assert metric(metrics, "llm_tokens_processed_total", model="fake", type="prompt") == 2


async def test_remote_replica_gets_its_own_model_name_and_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITADEL_TEST_UPSTREAM_TOKEN", "sk-upstream")
    script = Script()
    async with fake_upstream(script) as url:
        model = remote_model("fake", url)
        model["replicas"] = [
            {"url": url, "served_model": "org/fake-7b", "api_key_env": "CITADEL_TEST_UPSTREAM_TOKEN"}
        ]
        async with gateway_client(tmp_path, [model]) as gateway:
            response = await gateway.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.headers["x-citadel-model"] == "fake"
    assert script.seen_models == ["org/fake-7b"]
    assert script.seen_authorization == ["Bearer sk-upstream"]


async def test_first_byte_timeout_is_a_504_and_not_retried(tmp_path: Path) -> None:
    never = asyncio.Event()
    slow, other = Script(answer_after=never), Script(answer_after=never)
    async with (
        fake_upstream(slow) as slow_url,
        fake_upstream(other) as other_url,
        gateway_client(
            tmp_path, [remote_model("fake", slow_url, other_url, timeouts={"first_byte_s": 0.2})]
        ) as gateway,
    ):
        response = await gateway.post("/v1/chat/completions", json=CHAT)
        never.set()
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert slow.calls + other.calls == 1  # the model was working on it: a retry would double the cost


async def test_a_client_leaving_before_the_first_event_leaves_no_connection_open(tmp_path: Path) -> None:
    first_event = asyncio.Event()
    script = Script(first_event_after=first_event)
    async with (
        fake_upstream(script) as url,
        gateway_app(tmp_path, [remote_model("fake", url)]) as (app, gateway),
    ):
        leaving = asyncio.ensure_future(gateway.post("/v1/chat/completions", json={**CHAT, "stream": True}))
        await script.called.wait()
        leaving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leaving
        assert not services_of(
            app.state
        ).forwarder._client._open  # closed, not left counting against the pool's limit
        first_event.set()
        answer = await gateway.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200
