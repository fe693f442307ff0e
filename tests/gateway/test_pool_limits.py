"""Pool waits are not replica failures: a model whose replica holds every request it gets uses up its own
connections only; requests beyond them get 503 ``upstream_pool_exhausted`` after ``pool_timeout_s``, while
another model keeps being served and no breaker opens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import gateway_client, metric, remote_model
from tests.gateway.waiting import eventually

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
# A breaker that would open after two failed calls in its window, so a pool wait charged to it would show.
TOUCHY_BREAKER = {"minimum_calls": 2, "failure_threshold": 50, "window_s": 30, "recovery_timeout_s": 60}


async def test_a_slow_model_cannot_take_another_models_connections_or_open_breakers(tmp_path: Path) -> None:
    slow_script = Script(answer_after=asyncio.Event())
    fast_script = Script()
    async with fake_upstream(slow_script) as slow, fake_upstream(fast_script) as fast:
        models = [remote_model("slow", slow), remote_model("fast", fast)]
        async with gateway_client(
            tmp_path,
            models,
            max_connections=4,
            max_connections_per_replica=2,
            pool_timeout_s=0.3,
            request_timeout_s=5,
            circuit_breaker=TOUCHY_BREAKER,
        ) as client:

            async def chat(model: str) -> httpx.Response:
                return await client.post("/v1/chat/completions", json={"model": model, **CHAT})

            held = [asyncio.create_task(chat("slow")) for _ in range(2)]
            await eventually(lambda: slow_script.calls >= 2, "the slow replica to hold two requests")
            beyond = [asyncio.create_task(chat("slow")) for _ in range(4)]
            fast_answers = await asyncio.gather(*(chat("fast") for _ in range(6)))
            assert [answer.status_code for answer in fast_answers] == [200] * 6

            refused = await asyncio.gather(*beyond)
            assert [answer.status_code for answer in refused] == [503] * 4
            error = refused[0].json()["error"]
            assert error["code"] == "upstream_pool_exhausted"
            assert error["type"] == "service_unavailable"
            assert "upstream connection pool" in error["message"]
            assert refused[0].headers["retry-after"] == "1"
            assert slow_script.calls == 2  # the refused requests never reached the replica

            slow_script.answer_after.set()  # type: ignore[union-attr]
            assert [answer.status_code for answer in await asyncio.gather(*held)] == [200, 200]

            text = (await client.get("/metrics")).text
            for model, url in (("slow", slow), ("fast", fast)):
                assert metric(text, "llm_circuit_breaker_state", model=model, replica=url) == 0
                assert metric(text, "llm_circuit_breaker_transitions_total", model=model, state="open") == 0
                assert metric(text, "llm_replica_health", model=model, replica=url) == 1
            assert metric(text, "llm_upstream_pool_exhausted_total", model="slow", replica=slow) == 4
            assert metric(text, "llm_retries_total", model="slow", reason="timeout") == 0
            # The replica is still served once its connections are free again.
            assert (await chat("slow")).status_code == 200
