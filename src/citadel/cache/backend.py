"""The small interface every cache backend implements, and the table that picks one by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from citadel.config import CitadelSettings


class CacheBackendError(Exception):
    """The backend could not be reached or answered nonsense; the cache treats it as a miss."""


class CacheBackend(Protocol):
    """Bytes by key with a time to live. Implementations raise only :class:`CacheBackendError`."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def clear(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; how many were deleted."""
        ...

    async def aclose(self) -> None: ...


BACKENDS = {
    "memory": "citadel.cache.memory:MemoryBackend",
    "redis": "citadel.cache.redis_backend:RedisBackend",
}


def backend_name(settings: CitadelSettings) -> str:
    """``cache.backend``, else ``redis`` when ``redis.url`` is set, else ``memory``."""
    if settings.cache.backend is not None:
        return settings.cache.backend
    return "redis" if settings.redis.url else "memory"


def make_backend(settings: CitadelSettings, clock: Callable[[], float] | None = None) -> CacheBackend:
    """The configured backend, its module imported only now (``redis`` only when it is used)."""
    name = backend_name(settings)
    module_name, _, attribute = BACKENDS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    backend: CacheBackend = factory.from_settings(settings, clock=clock)
    return backend
