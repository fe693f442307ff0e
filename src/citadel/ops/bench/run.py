"""Running a :class:`BenchPlan`: streamed chat completions through the gateway, ``level`` at a time.

Streaming is what lets one request measure both its time to first token and its total latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from citadel.ops.bench.plan import BenchPlan, Scenario


@dataclass(frozen=True, slots=True)
class Sample:
    ok: bool
    latency_s: float
    ttft_s: float | None
    completion_tokens: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class LevelRun:
    model: str
    scenario: str
    level: int
    wall_s: float
    samples: tuple[Sample, ...]


def _usage_tokens(data: str) -> int | None:
    try:
        usage = json.loads(data).get("usage")
    except json.JSONDecodeError:
        return None
    return usage.get("completion_tokens") if isinstance(usage, dict) else None


async def _one(client: httpx.AsyncClient, plan: BenchPlan, model: str, scenario: Scenario) -> Sample:
    body = {
        "model": model,
        "messages": scenario.messages(),
        "max_tokens": scenario.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    tokens = chunks = 0
    try:
        async with client.stream("POST", f"{plan.gateway_url}/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")[:200]
                return Sample(
                    False, time.perf_counter() - started, None, 0, f"HTTP {response.status_code} {text}"
                )
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                if '"content":' in line and first is None:
                    first = time.perf_counter() - started
                chunks += '"content":' in line
                tokens = _usage_tokens(line.removeprefix("data: ")) or tokens
    except httpx.HTTPError as exc:
        return Sample(False, time.perf_counter() - started, first, 0, f"{type(exc).__name__}: {exc}")
    return Sample(True, time.perf_counter() - started, first, tokens or chunks)


async def _level(
    client: httpx.AsyncClient,
    plan: BenchPlan,
    model: str,
    scenario: Scenario,
    level: int,
    done: Callable[[], None],
) -> LevelRun:
    remaining = plan.requests_at(level)
    samples: list[Sample] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            samples.append(await _one(client, plan, model, scenario))
            done()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(level):
            group.create_task(worker())
    return LevelRun(model, scenario.name, level, time.perf_counter() - started, tuple(samples))


async def run_plan(plan: BenchPlan, done: Callable[[], None]) -> list[LevelRun]:
    """Every model x scenario x level, one after another; ``done`` is called after each request."""
    headers = {"authorization": f"Bearer {plan.api_key}"} if plan.api_key else {}
    limits = httpx.Limits(max_connections=max(plan.levels), max_keepalive_connections=max(plan.levels))
    runs = []
    async with httpx.AsyncClient(timeout=plan.timeout_s, headers=headers, limits=limits) as client:
        for model in plan.models:
            for scenario in plan.scenarios:
                for level in plan.levels:
                    runs.append(await _level(client, plan, model, scenario, level, done))
    return runs
