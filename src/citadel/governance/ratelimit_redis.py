"""Rate limiting in Redis: one Lua script checks and counts every window in one round trip, so all workers and
gateway instances pointing at the same Redis share exact counts. The script runs over
:class:`~citadel.governance.redis_pipe.PipelinedRedis`, the request path's lean Redis connection."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

from citadel.governance.ratelimit import Decision, LimiterUnavailable, Window
from citadel.governance.redis_pipe import PipelinedRedis, RedisReplyError, RedisUnavailable, script_sha

# KEYS[i]: the counter of window i; ARGV[1]: now in ms, then limit, cost, seconds for each window in turn.
# A new counter expires with its window, and a second later. The script works out that time, so that the
# arguments of a request differ only in now and the token cost.
# Returns {allowed, blocked_window (1-based, 0 if none), used_1, ..., used_n}.
_SCRIPT = """
local n = #KEYS
local now_ms = tonumber(ARGV[1])
local used = {}
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  if used[i] + tonumber(ARGV[3 * i]) > tonumber(ARGV[3 * i - 1]) then
    return {0, i, unpack(used)}
  end
end
for i = 1, n do
  local cost = tonumber(ARGV[3 * i])
  used[i] = redis.call('INCRBY', KEYS[i], cost)
  if used[i] == cost then
    local window_ms = tonumber(ARGV[3 * i + 1]) * 1000
    local ttl_ms = (math.floor(now_ms / window_ms) + 1) * window_ms - now_ms + 1000
    redis.call('PEXPIRE', KEYS[i], ttl_ms)
  end
end
return {1, 0, unpack(used)}
"""


@functools.lru_cache(maxsize=40_000)  # about 10,000 keys' windows: a request's keys change once a minute
def _counter_key(subject: str, window: str, index: int) -> str:
    return f"citadel:rl:{subject}:{window}:{index}"


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
        limits: list[str | int] = [int(now * 1000)]
        for window in windows:
            args.append(_counter_key(subject, window.name, int(now // window.seconds)))
            limits += (window.limit, window.cost, window.seconds)
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
