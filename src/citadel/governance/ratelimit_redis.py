"""Rate limiting in Redis: one Lua script checks and counts every window in one round trip, so all workers and
gateway instances pointing at the same Redis share exact counts. The script runs over
:class:`~citadel.governance.redis_pipe.PipelinedRedis`, the request path's lean Redis connection."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from citadel.governance.ratelimit import Decision, LimiterUnavailable, Window
from citadel.governance.redis_pipe import PipelinedRedis, RedisReplyError, RedisUnavailable, script_sha

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
        self._redis = PipelinedRedis(url, timeout_s=timeout_s)
        self._sha = script_sha(_SCRIPT)

    async def acquire(self, subject: str, windows: Sequence[Window]) -> Decision:
        if not windows:
            return Decision(True, (), (), self._clock())
        now = self._clock()
        args: list[str | int] = [len(windows)]
        limits: list[str | int] = []
        for window in windows:
            index = int(now // window.seconds)
            args.append(f"citadel:rl:{subject}:{window.name}:{index}")
            ttl_ms = int(((index + 1) * window.seconds - now) * 1000) + 1000  # the window's rest, and 1 s
            limits += (window.limit, window.cost, ttl_ms)
        args += limits
        try:
            try:
                reply = await self._redis.execute("EVALSHA", self._sha, *args)
            except RedisReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                reply = await self._redis.execute("EVAL", _SCRIPT, *args)  # loads it for the next calls
        except (RedisUnavailable, RedisReplyError) as exc:
            raise LimiterUnavailable(f"redis: {exc}") from exc
        allowed, blocked, *used = reply
        return Decision(
            bool(allowed), tuple(windows), tuple(used), now, blocked_by=blocked - 1 if blocked else None
        )

    async def aclose(self) -> None:
        await self._redis.aclose()
