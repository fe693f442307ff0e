"""Restart delays: exponential, capped, and forgiven once a process has stayed up a while."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """Delay before the next restart.

    >>> backoff = Backoff(initial_s=1, maximum_s=8, reset_after_s=60)
    >>> [backoff.next_delay(uptime_s=0.5) for _ in range(5)]
    [1, 2, 4, 8, 8]
    >>> backoff.next_delay(uptime_s=120)
    1
    """

    initial_s: float = 1.0
    maximum_s: float = 30.0
    reset_after_s: float = 60.0
    _failures: int = 0

    def next_delay(self, uptime_s: float) -> float:
        if uptime_s >= self.reset_after_s:
            self._failures = 0
        delay: float = min(self.initial_s * 2.0**self._failures, self.maximum_s)
        self._failures += 1
        return delay

    @property
    def restarts(self) -> int:
        return self._failures
