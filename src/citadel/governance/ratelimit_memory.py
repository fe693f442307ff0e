"""In-process rate limiting (no Redis configured): exact within one process, not shared between workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from citadel.governance.ratelimit import Decision, Window


class MemoryRateLimiter:
    """Fixed-window counters in a dict; the event loop runs ``acquire`` without awaiting, so it is atomic."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counters: dict[tuple[str, str], tuple[int, int]] = {}  # (subject, window) -> (index, used)

    async def acquire(self, subject: str, windows: Sequence[Window]) -> Decision:
        now = self._clock()
        used: list[int] = []
        for window in windows:
            index, count = self._counters.get((subject, window.name), (window.index(now), 0))
            used.append(count if index == window.index(now) else 0)
        for position, (window, count) in enumerate(zip(windows, used, strict=True)):
            if count + window.cost > window.limit:
                return Decision(False, tuple(windows), tuple(used), now, blocked_by=position)
        after = [count + window.cost for window, count in zip(windows, used, strict=True)]
        for window, count in zip(windows, after, strict=True):
            self._counters[(subject, window.name)] = (window.index(now), count)
        return Decision(True, tuple(windows), tuple(after), now)

    async def aclose(self) -> None:
        self._counters.clear()
