"""When to stop restarting a service: systemd's ``StartLimitBurst`` within ``StartLimitIntervalSec``.

>>> limit = StartLimit(burst=3, interval_s=10)
>>> [limit.record(now) for now in (0, 1, 2)]
[False, False, True]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class StartLimit:
    """Counts a service's exits; :meth:`record` says when ``burst`` of them fell within ``interval_s``."""

    burst: int
    interval_s: float
    _exits: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> bool:
        """Note one exit at ``now`` (monotonic seconds); True if the service should be given up."""
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self.interval_s:
            self._exits.popleft()
        return len(self._exits) >= self.burst

    @property
    def recent(self) -> int:
        """Exits counted in the current window."""
        return len(self._exits)

    @property
    def span_s(self) -> float:
        """Seconds between the first and the last exit of the current window."""
        return self._exits[-1] - self._exits[0] if self._exits else 0.0
