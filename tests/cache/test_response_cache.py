"""ResponseCache on both backends: misses, hits, metrics, TTL, clearing, byte-exact stream replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from citadel.cache import CachedResponse, ResponseCache, replay_chunks
from citadel.cache.redis_backend import RedisBackend
from tests.cache.conftest import cache_settings
from tests.governance.servers import RedisServer
from tests.helpers import SMOLLM2_NAME, free_port

CHAT = "/v1/chat/completions"


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0, **extra}


@pytest.fixture(params=["memory", "redis"])
async def cache(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ResponseCache, CollectorRegistry]]:
    redis_url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("cache_redis")
        redis_url = server.url
    registry = CollectorRegistry()
    opened = await ResponseCache.open(cache_settings(tmp_path, redis_url), registry=registry)
    assert opened.backend.name == request.param
    await opened.clear()
    yield opened, registry
    await opened.clear()
    await opened.aclose()


def _count(registry: CollectorRegistry, name: str, model: str) -> float:
    return registry.get_sample_value(name, {"model": model}) or 0.0


async def test_miss_then_hit_counted_per_model(cache: tuple[ResponseCache, CollectorRegistry]) -> None:
    response_cache, registry = cache
    plan = response_cache.plan(CHAT, _body())
    assert plan is not None
    assert await response_cache.get(plan) is None
    answer = CachedResponse(200, "application/json", body=b'{"id":"chatcmpl-1"}', model="m")
    assert await response_cache.put(plan, answer)
    assert await response_cache.get(plan) == answer
    assert _count(registry, "llm_cache_misses_total", "m") == 1
    assert _count(registry, "llm_cache_hits_total", "m") == 1
    other = response_cache.plan(CHAT, _body(max_tokens=5))
    assert other is not None
    assert await response_cache.get(other) is None


async def test_only_successes_are_stored_and_unplanned_requests_skip(
    cache: tuple[ResponseCache, CollectorRegistry],
) -> None:
    response_cache, _ = cache
    plan = response_cache.plan(CHAT, _body())
    assert plan is not None
    assert not await response_cache.put(plan, CachedResponse(500, "application/json", body=b"{}"))
    assert not await response_cache.put(plan, None)
    assert await response_cache.get(plan) is None
    assert response_cache.plan(CHAT, _body(temperature=0.7)) is None
    assert response_cache.plan(CHAT, _body(), header="off") is None


async def test_clear_one_model_or_all(cache: tuple[ResponseCache, CollectorRegistry]) -> None:
    response_cache, _ = cache
    plans = [response_cache.plan(CHAT, _body(model=name)) for name in ("a", "b", "b")]
    plans[2] = response_cache.plan(CHAT, _body(model="b", max_tokens=3))
    for plan in plans:
        assert plan is not None
        await response_cache.put(plan, CachedResponse(200, "application/json", body=b"{}"))
    assert await response_cache.clear("b") == 2
    assert plans[0] is not None
    assert await response_cache.get(plans[0]) is not None
    assert await response_cache.clear() == 1


async def test_isolation_per_api_key(tmp_path: Path) -> None:
    response_cache = await ResponseCache.open(cache_settings(tmp_path, per_key=True))
    alice = response_cache.plan(CHAT, _body(), api_key_id="alice")
    bob = response_cache.plan(CHAT, _body(), api_key_id="bob")
    assert alice is not None
    assert bob is not None
    await response_cache.put(alice, CachedResponse(200, "application/json", body=b"{}"))
    assert await response_cache.get(alice) is not None
    assert await response_cache.get(bob) is None
    await response_cache.aclose()


async def test_model_policy_and_ttl(tmp_path: Path) -> None:
    clock = [0.0]
    settings = cache_settings(
        tmp_path, ttl_s=100, models={"m": {"mode": "always", "ttl_s": 5}, "never": {"mode": "never"}}
    )
    response_cache = await ResponseCache.open(settings, clock=lambda: clock[0])
    plan = response_cache.plan(CHAT, _body(temperature=0.9))
    assert plan is not None
    assert plan.ttl_s == 5
    assert response_cache.plan(CHAT, _body(model="never"), header="on") is None
    await response_cache.put(plan, CachedResponse(200, "application/json", body=b"{}"))
    clock[0] = 4.9
    assert await response_cache.get(plan) is not None
    clock[0] = 5.0
    assert await response_cache.get(plan) is None
    default = response_cache.plan(CHAT, _body(model="x"))
    assert default is not None
    assert default.ttl_s == 100
    await response_cache.aclose()


async def test_redis_entries_carry_the_ttl(cache_redis: RedisServer, tmp_path: Path) -> None:
    response_cache = await ResponseCache.open(cache_settings(tmp_path, cache_redis.url, ttl_s=3600))
    plan = response_cache.plan(CHAT, _body(model="ttl-model"))
    assert plan is not None
    await response_cache.put(plan, CachedResponse(200, "application/json", body=b"{}"))
    backend = response_cache.backend
    assert isinstance(backend, RedisBackend)
    assert 3_500_000 < await backend.ttl_ms(plan.key) <= 3_600_000
    await response_cache.clear("ttl-model")
    assert await backend.ttl_ms(plan.key) == -2
    await response_cache.aclose()


async def test_unreachable_redis_is_a_counted_miss(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    dead = f"redis://127.0.0.1:{free_port()}/0"
    response_cache = await ResponseCache.open(cache_settings(tmp_path, dead), registry=registry)
    plan = response_cache.plan(CHAT, _body())
    assert plan is not None
    assert await response_cache.get(plan) is None
    assert not await response_cache.put(plan, CachedResponse(200, "application/json", body=b"{}"))
    assert registry.get_sample_value("llm_cache_errors_total", {"operation": "get"}) == 1
    assert registry.get_sample_value("llm_cache_errors_total", {"operation": "set"}) == 1
    assert _count(registry, "llm_cache_misses_total", "m") == 1
    await response_cache.aclose()


async def test_a_replayed_stream_equals_the_original_byte_for_byte(
    cache: tuple[ResponseCache, CollectorRegistry], model_url: str
) -> None:
    response_cache, _ = cache
    body = {
        "model": SMOLLM2_NAME,
        "messages": [{"role": "user", "content": "Count to five."}],
        "temperature": 0,
        "max_tokens": 24,
        "stream": True,
    }
    plan = response_cache.plan(CHAT, body)
    assert plan is not None
    assert plan.stream
    recorder = response_cache.recorder()
    original = bytearray()
    async with (
        httpx.AsyncClient(timeout=120) as client,
        client.stream("POST", f"{model_url}{CHAT}", json=body) as answer,
    ):
        assert answer.status_code == 200
        async for chunk in answer.aiter_raw():
            original += chunk
            recorder.add(chunk)
    assert await response_cache.put(plan, recorder.result(model=SMOLLM2_NAME))
    hit = await response_cache.get(plan)
    assert hit is not None
    assert hit.streamed
    assert hit.content_type == "text/event-stream"
    replayed = b"".join([chunk async for chunk in replay_chunks(hit)])
    assert replayed == bytes(original)
    assert replayed.rstrip().endswith(b"data: [DONE]")


def test_a_cut_or_failed_stream_is_not_stored() -> None:
    from citadel.cache.recorder import StreamRecorder

    cut = StreamRecorder(max_bytes=1000)
    cut.add(b'data: {"id":"1","choices":[]}\n\n')
    assert cut.result() is None
    failed = StreamRecorder(max_bytes=1000)
    failed.add(b'data: {"id":"1"}\n\n')
    failed.add(b'data: {"error": {"message": "cut", "code": "upstream_failed"}}\n\n')
    failed.add(b"data: [DONE]\n\n")
    assert failed.result() is None
    big = StreamRecorder(max_bytes=10)
    big.add(b'data: {"id":"1"}\n\n')
    big.add(b"data: [DONE]\n\n")
    assert big.result() is None
