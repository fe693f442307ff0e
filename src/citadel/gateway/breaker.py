"""A circuit breaker per replica: closed → open → half-open → closed (seed F.1.1 circuit_breaker_patterns).

Closed, it counts outcomes in one-second buckets over ``window_s``; once ``minimum_calls`` are in the
window and ``failure_threshold`` percent of them failed, it opens. Open, it refuses every call for
``recovery_timeout_s``, then turns half-open: up to ``half_open_max_calls`` trial calls go through at once;
one failure opens it again, ``half_open_max_calls`` successes close it.

Every admitted call must end in exactly one of :meth:`CircuitBreaker.succeeded`,
:meth:`~CircuitBreaker.failed` or :meth:`~CircuitBreaker.abandoned` (a call that ended without a verdict,
e.g. the client went away).

>>> clock = ManualClock()
>>> breaker = CircuitBreaker(CircuitBreakerSettings(minimum_calls=2), clock=clock)
>>> for _ in range(2):
...     assert breaker.try_acquire()
...     breaker.failed()
>>> breaker.state
<BreakerState.OPEN: 2>
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from typing import Protocol

from citadel.config.sections import CircuitBreakerSettings


class Clock(Protocol):
    def __call__(self) -> float: ...


class ManualClock:
    """A clock that only moves when told to; for tests and doctests."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BreakerState(enum.IntEnum):
    """Values are what the ``llm_circuit_breaker_state`` gauge shows: higher is worse."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


Transition = Callable[[BreakerState, BreakerState], None]


class _Window:
    """Calls and failures in one-second buckets over the last ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._size = max(1, math.ceil(seconds))
        self._second = [-1] * self._size
        self._calls = [0] * self._size
        self._failures = [0] * self._size

    def add(self, now: float, failed: bool) -> None:
        second = int(now)
        slot = second % self._size
        if self._second[slot] != second:
            self._second[slot], self._calls[slot], self._failures[slot] = second, 0, 0
        self._calls[slot] += 1
        self._failures[slot] += failed

    def totals(self, now: float) -> tuple[int, int]:
        oldest = int(now) - self._size + 1
        calls = failures = 0
        for slot in range(self._size):
            if self._second[slot] >= oldest:
                calls += self._calls[slot]
                failures += self._failures[slot]
        return calls, failures

    def clear(self) -> None:
        self._second = [-1] * self._size


class CircuitBreaker:
    """Decides whether a replica may take a call now; ``on_transition`` hears every state change."""

    def __init__(
        self,
        settings: CircuitBreakerSettings,
        *,
        clock: Clock = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._window = _Window(settings.window_s)
        self._opened_at = 0.0
        self._trials_in_flight = 0
        self._trial_successes = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose recovery timeout passed reads as half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self._settings.recovery_timeout_s
        ):
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def allows(self) -> bool:
        """Whether :meth:`try_acquire` would succeed now (no side effect)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and self._trials_in_flight < self._settings.half_open_max_calls

    def try_acquire(self) -> bool:
        """Admit one call, or refuse it; an admitted call must be reported back."""
        if not self.allows():
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight += 1
        return True

    def succeeded(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)
            self._trial_successes += 1
            if self._trial_successes >= self._settings.half_open_max_calls:
                self._move(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._window.add(self._clock(), failed=False)

    def failed(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN)
        elif self._state is BreakerState.CLOSED:
            now = self._clock()
            self._window.add(now, failed=True)
            calls, failures = self._window.totals(now)
            if (
                calls >= self._settings.minimum_calls
                and failures * 100 >= self._settings.failure_threshold * calls
            ):
                self._move(BreakerState.OPEN)

    def abandoned(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._trials_in_flight = 0
        self._trial_successes = 0
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        if new is BreakerState.CLOSED:
            self._window.clear()
        if self._on_transition is not None:
            self._on_transition(old, new)


class _AlwaysClosed(CircuitBreaker):
    """The breaker of ``circuit_breaker.enabled: false``: admits everything, never moves."""

    def try_acquire(self) -> bool:
        return True

    def allows(self) -> bool:
        return True

    def succeeded(self) -> None:
        pass

    def failed(self) -> None:
        pass

    def abandoned(self) -> None:
        pass


def make_breaker(
    settings: CircuitBreakerSettings, *, clock: Clock, on_transition: Transition | None
) -> CircuitBreaker:
    """The breaker ``settings`` ask for (a no-op one when disabled)."""
    kind = CircuitBreaker if settings.enabled else _AlwaysClosed
    return kind(settings, clock=clock, on_transition=on_transition)


__all__ = ["BreakerState", "CircuitBreaker", "Clock", "ManualClock", "make_breaker"]
