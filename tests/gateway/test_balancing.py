"""Balancing strategies and health thresholds on replicas without any network."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry

from citadel.config.sections import CircuitBreakerSettings
from citadel.gateway.balancing import LatencyEwma, LeastOutstanding, WeightedRoundRobin
from citadel.gateway.breaker import CircuitBreaker
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.replicas import HealthThresholds, Replica


def _replicas(*weights: int) -> list[Replica]:
    metrics = GatewayMetrics(CollectorRegistry())
    return [
        Replica(
            "m",
            f"http://127.0.0.1:{9000 + index}",
            weight=weight,
            thresholds=HealthThresholds(failures=3, recoveries=2),
            breaker=CircuitBreaker(CircuitBreakerSettings()),
            metrics=metrics,
        )
        for index, weight in enumerate(weights)
    ]


def test_weighted_round_robin_is_smooth_and_proportional() -> None:
    replicas = _replicas(5, 1, 1)
    strategy = WeightedRoundRobin()
    picks = [replicas.index(strategy.pick(replicas)) for _ in range(7)]
    assert Counter(picks) == {0: 5, 1: 1, 2: 1}
    assert picks[:3] != [0, 0, 0]


def test_least_outstanding_prefers_the_idle_replica_and_rotates_ties() -> None:
    replicas = _replicas(1, 1, 1)
    strategy = LeastOutstanding()
    replicas[0].begin()
    replicas[1].begin()
    assert strategy.pick(replicas) is replicas[2]
    replicas[2].begin()
    assert len({id(strategy.pick(replicas)) for _ in range(6)}) == 3


def test_latency_ewma_tries_unmeasured_first_then_the_fastest() -> None:
    replicas = _replicas(1, 1)
    strategy = LatencyEwma()
    replicas[0].record_first_byte(0.5)
    assert strategy.pick(replicas) is replicas[1]
    replicas[1].record_first_byte(0.1)
    assert strategy.pick(replicas) is replicas[1]
    for _ in range(5):
        replicas[1].begin()  # 0.1 s x 6 > 0.5 s: queued work makes the fast one slower to answer
    assert strategy.pick(replicas) is replicas[0]


def test_health_needs_three_failures_to_go_down_and_two_successes_to_come_back() -> None:
    replica = _replicas(1)[0]
    assert replica.observe(True)  # the first observation decides at once
    assert not replica.observe(False)
    assert not replica.observe(False)
    assert replica.observe(False)
    assert not replica.healthy
    assert not replica.observe(True)
    assert replica.observe(True)
    assert replica.healthy


def test_a_refused_connection_is_conclusive() -> None:
    replica = _replicas(1)[0]
    replica.observe(True)
    assert replica.observe(False, "connection refused", conclusive=True)
    assert not replica.healthy
    assert not replica.observe(True)  # coming back still takes the recovery threshold
    assert replica.observe(True)


def test_a_success_in_between_resets_the_failure_count() -> None:
    replica = _replicas(1)[0]
    replica.observe(True)
    replica.observe(False)
    replica.observe(False)
    replica.note_success()
    replica.observe(False)
    assert replica.healthy
