"""The circuit breaker's state machine, with a clock the test moves."""

from __future__ import annotations

from citadel.config.sections import CircuitBreakerSettings
from citadel.gateway.breaker import BreakerState, CircuitBreaker, ManualClock

SETTINGS = CircuitBreakerSettings(
    failure_threshold=50, window_s=30, minimum_calls=4, recovery_timeout_s=60, half_open_max_calls=3
)


def _breaker(clock: ManualClock) -> tuple[CircuitBreaker, list[tuple[BreakerState, BreakerState]]]:
    seen: list[tuple[BreakerState, BreakerState]] = []
    return CircuitBreaker(SETTINGS, clock=clock, on_transition=lambda a, b: seen.append((a, b))), seen


def _state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call, so that mypy does not narrow it between reads


def _call(breaker: CircuitBreaker, ok: bool) -> None:
    assert breaker.try_acquire()
    if ok:
        breaker.succeeded()
    else:
        breaker.failed()


def test_opens_at_the_failure_rate_once_enough_calls_are_in_the_window() -> None:
    breaker, seen = _breaker(ManualClock())
    for ok in (True, True, False):
        _call(breaker, ok)
    assert breaker.state is BreakerState.CLOSED  # 3 calls: below minimum_calls
    _call(breaker, False)  # 2 of 4 failed = 50 %
    assert _state(breaker) is BreakerState.OPEN
    assert not breaker.try_acquire()
    assert seen == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_old_failures_leave_the_window() -> None:
    clock = ManualClock()
    breaker, _ = _breaker(clock)
    _call(breaker, False)
    _call(breaker, False)
    clock.advance(31)
    for ok in (True, True, False):
        _call(breaker, ok)
    assert breaker.state is BreakerState.CLOSED  # 1 of 3 in the window


def test_half_open_admits_a_few_trials_then_closes() -> None:
    clock = ManualClock()
    breaker, seen = _breaker(clock)
    for _ in range(4):
        _call(breaker, False)
    clock.advance(59.9)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.1)
    assert _state(breaker) is BreakerState.HALF_OPEN
    assert all(breaker.try_acquire() for _ in range(3))
    assert not breaker.try_acquire()  # half_open_max_calls in flight
    breaker.succeeded()
    breaker.abandoned()  # a trial without a verdict frees its place
    assert breaker.try_acquire()
    breaker.succeeded()
    breaker.succeeded()
    assert _state(breaker) is BreakerState.CLOSED
    assert [new for _, new in seen] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_a_failed_trial_opens_it_again_for_another_recovery_timeout() -> None:
    clock = ManualClock()
    breaker, seen = _breaker(clock)
    for _ in range(4):
        _call(breaker, False)
    clock.advance(60)
    _call(breaker, True)
    _call(breaker, False)
    assert breaker.state is BreakerState.OPEN
    clock.advance(30)
    assert breaker.state is BreakerState.OPEN
    assert [new for _, new in seen] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN]


def test_seed_defaults() -> None:
    defaults = CircuitBreakerSettings()
    assert (defaults.failure_threshold, defaults.window_s) == (50, 30)
    assert (defaults.recovery_timeout_s, defaults.half_open_max_calls) == (60, 10)
