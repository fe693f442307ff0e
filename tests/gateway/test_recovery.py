"""Recovery in seconds: a replica that goes down is probed on a short backoff (not at the next health
interval), and a request that finds no healthy replica probes at once (one probe shared by all such
requests) and is served if the replica answers. ``health_interval_s`` is 30 here: waiting for the interval
would fail."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from citadel.gateway.health import probe_delay
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import gateway_client, remote_model
from tests.gateway.waiting import eventually, eventually_async
from tests.helpers import free_port

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
SLOW_INTERVAL_S = 30
# Well below the interval: passing within it shows the backoff, not the interval, brought the replica back.
BEFORE_THE_INTERVAL_S = 10


async def _model_status(client: httpx.AsyncClient, model: str = "m") -> str:
    status: str = (await client.get("/health")).json()["models"][model]["status"]
    return status


def test_the_backoff_doubles_from_half_a_second_up_to_the_interval() -> None:
    delays = [probe_delay(False, misses, interval_s=30) for misses in range(10)]
    assert delays == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30, 30, 30]
    assert probe_delay(True, 0, interval_s=30) == 30  # healthy: the normal interval
    assert probe_delay(True, 1, interval_s=30) == 0.5  # healthy with a failed probe: check again soon
    assert probe_delay(False, 10_000, interval_s=30) == 30


async def test_a_replica_that_comes_back_is_served_again_before_the_next_interval(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first_life = contextlib.AsyncExitStack()
    await first_life.enter_async_context(fake_upstream(Script(), port=port))
    async with (
        first_life,
        gateway_client(tmp_path, [remote_model("m", url)], health_interval_s=SLOW_INTERVAL_S) as client,
    ):
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        await first_life.aclose()
        # Gone: the next request finds the connection refused, which marks the replica down at once.
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 503
        assert await _model_status(client) == "unhealthy"
        back = Script()
        async with fake_upstream(back, port=port):

            async def healthy() -> bool:
                return await _model_status(client) == "healthy"

            # GET /health only reads the state: only the monitor's own probes can bring the replica back.
            await eventually_async(healthy, "the replica back", timeout_s=BEFORE_THE_INTERVAL_S)
            assert back.health_calls >= 1
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_with_another_replica_up_a_returning_one_needs_its_good_probes_in_a_row(tmp_path: Path) -> None:
    steady, returning = Script(), Script()
    port = free_port()
    async with fake_upstream(steady) as steady_url:
        model = remote_model("m", steady_url, f"http://127.0.0.1:{port}")
        gateway = gateway_client(
            tmp_path, [model], health_recovery_threshold=3, health_interval_s=SLOW_INTERVAL_S
        )
        async with gateway as client, fake_upstream(returning, port=port):

            async def returned() -> bool:
                replicas = (await client.get("/health")).json()["models"]["m"]["replicas"]
                found = next(r for r in replicas if r["url"].endswith(f":{port}"))
                return bool(found["status"] == "healthy")

            await eventually_async(returned, "the replica back", timeout_s=BEFORE_THE_INTERVAL_S)
            # The threshold still holds while the model has another replica: three good probes.
            assert returning.health_calls >= 3


async def test_a_request_finding_no_healthy_replica_probes_once_for_all_and_is_served(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with gateway_client(
        tmp_path, [remote_model("m", url)], health_interval_s=SLOW_INTERVAL_S
    ) as client:
        assert await _model_status(client) == "unhealthy"  # nothing listened when the gateway started
        script = Script(health_after=asyncio.Event())
        async with fake_upstream(script, port=port):
            burst = [asyncio.create_task(client.post("/v1/chat/completions", json=CHAT)) for _ in range(10)]
            await eventually(lambda: script.health_calls >= 1, "the immediate probe")
            await asyncio.sleep(0.2)  # room for the rest of the burst to arrive while the probe is held
            assert script.health_calls == 1  # one probe for the whole burst, not one each
            script.health_after.set()  # type: ignore[union-attr]
            answers = await asyncio.gather(*burst)
            assert [answer.status_code for answer in answers] == [200] * 10
            assert script.calls == 10
            assert script.health_calls == 1


async def test_a_model_still_down_after_the_immediate_probe_is_a_503(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with gateway_client(
        tmp_path, [remote_model("m", url)], health_interval_s=SLOW_INTERVAL_S
    ) as client:
        answer = await client.post("/v1/chat/completions", json=CHAT)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "model_unavailable"
