"""The in-process backend: an LRU bounded by entries and bytes, each entry with its own expiry.

It lives in one gateway worker: with several workers each has its own (use Redis to share one).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from citadel.config import CitadelSettings


class _Entry(NamedTuple):
    value: bytes
    expires_at: float


class MemoryBackend:
    """LRU of bytes; ``clock`` (seconds, monotonic) is injectable so tests can move time.

    >>> import asyncio
    >>> cache = MemoryBackend(max_entries=2, max_bytes=1024)
    >>> asyncio.run(cache.set("a", b"1", ttl_s=60)); asyncio.run(cache.get("a"))
    b'1'
    """

    name = "memory"

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] | None = None) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock or time.monotonic

    @classmethod
    def from_settings(
        cls, settings: CitadelSettings, clock: Callable[[], float] | None = None
    ) -> MemoryBackend:
        return cls(max_entries=settings.cache.max_entries, max_bytes=settings.cache.max_bytes, clock=clock)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry.value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return
        if key in self._entries:
            self._remove(key)
        self._entries[key] = _Entry(value, self._clock() + ttl_s)
        self._bytes += len(value)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._remove(next(iter(self._entries)))

    async def clear(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.value)
