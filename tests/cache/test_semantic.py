"""The semantic cache with the real embedding model: paraphrases hit, other prompts and shapes do not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from citadel.cache import CachedResponse, ResponseCache
from citadel.cache.semantic import SemanticCache
from tests.vectors.conftest import away_settings, opened_vectors, vector_settings

CHAT = "/v1/chat/completions"


def _body(question: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": question}], "temperature": 0, **extra}


async def test_paraphrase_hits_and_everything_else_misses(tmp_path: Path, embedding_url: str) -> None:
    settings = vector_settings(tmp_path, embedding_url)
    async with opened_vectors(settings) as vectors:
        await _paraphrases(settings, vectors)


async def _paraphrases(settings: Any, vectors: Any) -> None:
    clock = [1000.0]
    registry = CollectorRegistry()
    semantic = await SemanticCache.open(
        settings, vectors, registry=registry, clock=lambda: clock[0], threshold=0.8
    )
    exact = await ResponseCache.open(settings)
    answer = CachedResponse(200, "application/json", body=b'{"answer":"Use the reset link."}', model="m")

    def plan(body: dict[str, Any]) -> Any:
        made = exact.plan(CHAT, body)
        assert made is not None
        return made

    stored = _body("How do I reset my password?")
    assert await semantic.store(plan(stored), stored, CHAT, answer)

    paraphrase = _body("How can I reset my password?")
    hit = await semantic.lookup(plan(paraphrase), paraphrase, CHAT)
    assert hit is not None
    assert hit.response == answer
    assert hit.prompt == "How do I reset my password?"
    assert hit.score >= 0.8

    unrelated = _body("What is the capital of France?")
    assert await semantic.lookup(plan(unrelated), unrelated, CHAT) is None
    other_shape = _body("How can I reset my password?", max_tokens=5)
    assert await semantic.lookup(plan(other_shape), other_shape, CHAT) is None
    streamed = _body("How can I reset my password?", stream=True)
    assert await semantic.lookup(plan(streamed), streamed, CHAT) is None
    assert registry.get_sample_value("llm_semantic_cache_hits_total", {"model": "m"}) == 1
    assert registry.get_sample_value("llm_semantic_cache_misses_total", {"model": "m"}) == 2

    clock[0] += 3600  # the exact cache's TTL (3600 s) has passed
    assert await semantic.lookup(plan(paraphrase), paraphrase, CHAT) is None
    assert await semantic.clear("m") == 1
    await exact.aclose()


async def test_off_by_default(tmp_path: Path, embedding_url: str) -> None:
    settings = vector_settings(tmp_path, embedding_url)
    assert settings.cache.semantic.enabled is False
    assert settings.cache.semantic.threshold == 0.95


async def test_an_unreachable_embedding_model_is_a_miss(tmp_path: Path) -> None:
    settings = away_settings(tmp_path, dimensions=384)
    async with opened_vectors(settings) as vectors:
        await _misses(settings, vectors)


async def _misses(settings: Any, vectors: Any) -> None:
    semantic = await SemanticCache.open(settings, vectors)
    exact = await ResponseCache.open(settings)
    body = _body("How do I reset my password?")
    plan = exact.plan(CHAT, body)
    assert plan is not None
    assert await semantic.lookup(plan, body, CHAT) is None
    assert not await semantic.store(plan, body, CHAT, CachedResponse(200, "application/json", body=b"{}"))
    await exact.aclose()
