"""The Redis backend: one string per entry with Redis's own expiry, shared by every gateway worker."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from citadel.cache.backend import CacheBackendError
from citadel.config import CitadelSettings

_SCAN_BATCH = 500


class RedisBackend:
    """Entries under their cache key with ``PX`` expiry; ``clear`` walks ``SCAN MATCH prefix*``.

    Every failure (unreachable, timed out, refused) is raised as :class:`CacheBackendError`.
    """

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=False
        )
        self._url = url

    @classmethod
    def from_settings(
        cls, settings: CitadelSettings, clock: Callable[[], float] | None = None
    ) -> RedisBackend:
        # Redis keeps its own time: an injected clock does not apply here.
        if not settings.redis.url:
            raise ValueError("cache.backend is redis but redis.url is not set")
        return cls(settings.redis.url.get_secret_value(), timeout_s=settings.cache.redis_timeout_s)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(key)
        except (RedisError, OSError) as exc:
            raise CacheBackendError(f"redis get failed: {exc}") from exc
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self._client.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            raise CacheBackendError(f"redis set failed: {exc}") from exc

    async def ttl_ms(self, key: str) -> int:
        """Milliseconds ``key`` has left (-2 when it is gone); for tests and diagnostics."""
        try:
            remaining: int = await self._client.pttl(key)
        except (RedisError, OSError) as exc:
            raise CacheBackendError(f"redis pttl failed: {exc}") from exc
        return remaining

    async def clear(self, prefix: str) -> int:
        deleted = 0
        try:
            batch: list[bytes] = []
            async for key in self._client.scan_iter(match=_glob_escape(prefix) + "*", count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    deleted += await self._client.unlink(*batch)
                    batch = []
            if batch:
                deleted += await self._client.unlink(*batch)
        except (RedisError, OSError) as exc:
            raise CacheBackendError(f"redis clear failed: {exc}") from exc
        return deleted

    async def aclose(self) -> None:
        await self._client.aclose()


def _glob_escape(text: str) -> str:
    """``text`` matched literally by Redis's glob (model names may hold ``[`` and friends)."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
