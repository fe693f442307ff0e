"""The bounded queue: beyond it a 503 with Retry-After; a client that leaves frees its place."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.helpers import SMOLLM2_NAME

# ignore_eos (vLLM's extension) makes the request run to its token budget.
LONG = {"model": SMOLLM2_NAME, "prompt": "Once upon a time", "max_tokens": 1900, "ignore_eos": True}


async def _waiting(client: httpx.AsyncClient) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("vllm:num_requests_waiting{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _wait_for_waiting(client: httpx.AsyncClient, count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await _waiting(client) != count:
        assert time.monotonic() < deadline, f"never {count} waiting"
        await asyncio.sleep(0.05)


async def test_full_queue_refuses_and_cancelled_stream_frees_its_slot(tiny_queue_model_url: str) -> None:
    url = tiny_queue_model_url
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        async with client.stream("POST", "/v1/completions", json={**LONG, "stream": True}) as running:
            lines = running.aiter_lines()
            await anext(lines)  # the first token: this request is running
            waiting = asyncio.create_task(client.post("/v1/completions", json={**LONG, "max_tokens": 2}))
            await _wait_for_waiting(client, 1)
            refused = await client.post("/v1/completions", json=LONG)
            assert refused.status_code == 503
            assert refused.json()["error"]["type"] == "service_unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            assert not waiting.done()
        # Leaving the stream cancels its sequence; the waiting request then runs and finishes quickly.
        done = await asyncio.wait_for(waiting, timeout=30)
        assert done.status_code == 200
        assert done.json()["usage"]["completion_tokens"] <= 2
