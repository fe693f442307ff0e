"""Balancing strategies: which of a model's available replicas takes the next request.

Each strategy picks from the replicas the caller offers (healthy, breaker closed or admitting trials, not yet
tried for this request) and is chosen per model by name (``models[].balancing``).

>>> balancer = make_balancer("weighted_round_robin")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from citadel.gateway.prefix_affinity import PrefixAffinity
from citadel.gateway.replicas import Replica


class Balancer(Protocol):
    wants_prefix: bool  # whether pick reads the request's prefix keys (computed only then)

    def pick(self, candidates: Sequence[Replica], keys: Sequence[int] = ()) -> Replica:
        """One of ``candidates`` (never empty); ``keys``: the request's prefix keys, if it wants them."""
        ...


class LeastOutstanding:
    """Fewest requests in flight per unit of weight; ties go round the replicas in turn."""

    wants_prefix = False

    def __init__(self) -> None:
        self._turn = 0

    def pick(self, candidates: Sequence[Replica], keys: Sequence[int] = ()) -> Replica:
        self._turn += 1
        count = len(candidates)
        best = candidates[self._turn % count]
        for offset in range(1, count):
            replica = candidates[(self._turn + offset) % count]
            if replica.outstanding * best.weight < best.outstanding * replica.weight:
                best = replica
        return best


class WeightedRoundRobin:
    """nginx's smooth weighted round robin: weights 5, 1, 1 give a a b a c a a, never five a's in a row."""

    wants_prefix = False

    def pick(self, candidates: Sequence[Replica], keys: Sequence[int] = ()) -> Replica:
        total = 0
        best = candidates[0]
        for replica in candidates:
            replica.wrr_current += replica.weight
            total += replica.weight
            if replica.wrr_current > best.wrr_current:
                best = replica
        best.wrr_current -= total
        return best


class LatencyEwma:
    """Lowest expected wait: the EWMA of time to first byte times the requests already queued there.

    A replica not measured yet scores 0, so each gets traffic (and a measurement) early on.
    """

    wants_prefix = False

    def pick(self, candidates: Sequence[Replica], keys: Sequence[int] = ()) -> Replica:
        return min(candidates, key=lambda replica: replica.ewma_first_byte_s * (replica.outstanding + 1))


_STRATEGIES: dict[
    str, type[LeastOutstanding] | type[WeightedRoundRobin] | type[LatencyEwma] | type[PrefixAffinity]
] = {
    "least_outstanding": LeastOutstanding,
    "weighted_round_robin": WeightedRoundRobin,
    "latency_ewma": LatencyEwma,
    "prefix_affinity": PrefixAffinity,  # its own module: prefix keys and the table of who holds which
}


def make_balancer(name: str) -> Balancer:
    """The strategy called ``name`` (the config's ``balancing`` values)."""
    return _STRATEGIES[name]()
