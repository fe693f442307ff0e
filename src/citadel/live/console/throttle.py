"""Failed console sign-ins, counted per user name and per client address; too many in a window → 429."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from citadel.errors import RateLimited

_SWEEP_AT = 10_000  # subjects remembered before the stale ones are forgotten


class SigninThrottle:
    """At most ``failures`` failed sign-ins per user name, and per client, within ``window_s``.

    In this process only (several gateway workers each count their own).

    >>> throttle = SigninThrottle(2, 60.0)
    >>> throttle.check("alice", "10.0.0.1")
    >>> throttle.failed("alice", "10.0.0.1"); throttle.failed("alice", "10.0.0.1")
    >>> throttle.check("alice", "10.0.0.2")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    citadel.errors.RateLimited: ...
    """

    def __init__(self, failures: int, window_s: float, *, clock: Callable[[], float] = time.monotonic):
        self._failures = failures
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, subject: str, now: float) -> deque[float]:
        times = self._seen.get(subject)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._seen[subject]
        return times

    def check(self, username: str, client: str) -> None:
        """``RateLimited`` while the user name or the client has used up its failures."""
        now = self._clock()
        for subject in (f"user:{username.lower()}", f"client:{client}"):
            times = self._recent(subject, now)
            if len(times) >= self._failures:
                retry = math.ceil(times[0] + self._window_s - now)
                raise RateLimited(
                    f"Too many failed sign-ins; try again in {retry} s.", retry_after_s=max(retry, 1)
                )

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        if len(self._seen) >= _SWEEP_AT:
            self._seen = {k: t for k, t in self._seen.items() if t and t[-1] > now - self._window_s}
        for subject in (f"user:{username.lower()}", f"client:{client}"):
            times = self._seen.setdefault(subject, deque())
            times.append(now)
            while len(times) > self._failures:  # only the last few matter: memory stays bounded per subject
                times.popleft()

    def succeeded(self, username: str) -> None:
        self._seen.pop(f"user:{username.lower()}", None)
