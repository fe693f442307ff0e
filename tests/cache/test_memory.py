"""The in-process backend: TTL by an injected clock, LRU bounded by entries and bytes."""

from __future__ import annotations

from citadel.cache.memory import MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = MemoryBackend(max_entries=10, max_bytes=10_000, clock=clock)
    await cache.set("short", b"a", ttl_s=10)
    await cache.set("long", b"b", ttl_s=3600)
    clock.now += 9.9
    assert await cache.get("short") == b"a"
    clock.now += 0.1
    assert await cache.get("short") is None
    assert await cache.get("long") == b"b"
    assert len(cache) == 1
    clock.now += 3600
    assert await cache.get("long") is None
    assert cache.bytes_used == 0


async def test_least_recently_used_goes_first_when_entries_are_full() -> None:
    cache = MemoryBackend(max_entries=2, max_bytes=10_000)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    assert await cache.get("a") == b"1"  # a is now the most recently used
    await cache.set("c", b"3", ttl_s=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"
    assert await cache.get("c") == b"3"


async def test_bytes_bound_evicts_and_oversized_values_are_not_kept() -> None:
    cache = MemoryBackend(max_entries=100, max_bytes=10)
    await cache.set("a", b"12345", ttl_s=60)
    await cache.set("b", b"12345", ttl_s=60)
    await cache.set("c", b"123", ttl_s=60)
    assert await cache.get("a") is None
    assert cache.bytes_used == 8
    await cache.set("huge", b"x" * 11, ttl_s=60)
    assert await cache.get("huge") is None
    assert await cache.get("b") == b"12345"


async def test_overwrite_and_clear_by_prefix() -> None:
    cache = MemoryBackend(max_entries=10, max_bytes=1000)
    await cache.set("m1:a", b"1", ttl_s=60)
    await cache.set("m1:a", b"22", ttl_s=60)
    await cache.set("m2:a", b"3", ttl_s=60)
    assert cache.bytes_used == 3
    assert await cache.clear("m1:") == 1
    assert await cache.get("m1:a") is None
    assert await cache.get("m2:a") == b"3"
