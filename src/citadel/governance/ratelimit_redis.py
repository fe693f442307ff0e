"""Rate limiting in Redis: one Lua script checks and counts every window in one round trip, so all workers and
gateway instances pointing at the same Redis share exact counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from citadel.governance.ratelimit import Decision, LimiterUnavailable, Window

# KEYS[i]: the counter of window i; ARGV: limit, cost, ttl_ms for each window in turn.
# Returns {allowed, blocked_window (1-based, 0 if none), used_1, ..., used_n}.
_SCRIPT = """
local n = #KEYS
local used = {}
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  if used[i] + tonumber(ARGV[3 * i - 1]) > tonumber(ARGV[3 * i - 2]) then
    return {0, i, unpack(used)}
  end
end
for i = 1, n do
  local cost = tonumber(ARGV[3 * i - 1])
  used[i] = redis.call('INCRBY', KEYS[i], cost)
  if used[i] == cost then
    redis.call('PEXPIRE', KEYS[i], ARGV[3 * i])
  end
end
return {1, 0, unpack(used)}
"""


class RedisRateLimiter:
    """Fixed windows in Redis keys ``citadel:rl:<subject>:<window>:<index>`` that expire with their window."""

    def __init__(self, url: str, *, timeout_s: float, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._timeout_s = timeout_s
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_SCRIPT)

    async def acquire(self, subject: str, windows: Sequence[Window]) -> Decision:
        if not windows:
            return Decision(True, (), (), self._clock())
        now = self._clock()
        keys = [f"citadel:rl:{subject}:{window.name}:{window.index(now)}" for window in windows]
        args: list[int] = []
        for window in windows:
            args += [window.limit, window.cost, int(window.reset_s(now) * 1000) + 1000]
        try:
            async with asyncio.timeout(self._timeout_s):
                reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        allowed, blocked, *used = (int(value) for value in reply)
        return Decision(
            bool(allowed), tuple(windows), tuple(used), now, blocked_by=blocked - 1 if blocked else None
        )

    async def aclose(self) -> None:
        await self._redis.aclose()
