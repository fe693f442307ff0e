"""The models the gateway can route to: each a pool of replicas with a balancer, timeouts and fallbacks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from citadel.config.sections import GatewaySettings, LocalModel, ModelSettings, ReplicaSettings
from citadel.errors import ModelNotFound
from citadel.gateway.balancing import Balancer, make_balancer
from citadel.gateway.breaker import Clock, make_breaker
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.replicas import BreakerTransitions, HealthThresholds, Replica


@dataclass(frozen=True, slots=True)
class Timeouts:
    """A model's upstream timeouts, its own or the gateway's defaults.

    ``pool_s`` bounds the wait for a free upstream connection: ``gateway.pool_timeout_s``, or the model's
    total timeout if that is shorter (the wait is part of the request's time).
    """

    connect_s: float
    first_byte_s: float
    total_s: float
    pool_s: float

    @classmethod
    def for_model(cls, gateway: GatewaySettings, model: ModelSettings) -> Timeouts:
        own = model.timeouts
        total_s = own.total_s or gateway.request_timeout_s
        return cls(
            connect_s=own.connect_s or gateway.connect_timeout_s,
            first_byte_s=own.first_byte_s or gateway.first_byte_timeout_s,
            total_s=total_s,
            pool_s=min(gateway.pool_timeout_s, total_s),
        )


class ModelPool:
    """One configured model: its replicas and how to choose among them."""

    def __init__(
        self,
        settings: ModelSettings,
        replicas: list[Replica],
        balancer: Balancer,
        timeouts: Timeouts,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.replicas = replicas
        self.balancer = balancer
        self.timeouts = timeouts
        self.fallbacks = settings.fallbacks
        self.health_gauge = metrics.health.labels(settings.name)
        # A model on Ray has one upstream, Ray Serve's proxy, which balances over replicas of its own: a
        # retry through it reaches another replica (one that died mid-request is out of its rotation).
        self.retries_same_upstream = isinstance(settings, LocalModel) and settings.ray is not None

    @property
    def healthy(self) -> bool:
        return any(replica.healthy for replica in self.replicas)

    @property
    def outstanding(self) -> int:
        return sum(replica.outstanding for replica in self.replicas)

    def pick(self, exclude: Iterable[Replica] = (), keys: Sequence[int] = ()) -> Replica | None:
        """A replica that may take a call now (breaker permit taken), or None when none can."""
        tried = set() if self.retries_same_upstream else set(map(id, exclude))
        candidates = [r for r in self.replicas if r.available and id(r) not in tried]
        while candidates:
            replica = candidates[0] if len(candidates) == 1 else self.balancer.pick(candidates, keys)
            if replica.breaker.try_acquire():
                return replica
            candidates.remove(replica)
        return None

    def refresh_health_gauge(self) -> None:
        self.health_gauge.set(1 if self.healthy else 0)


def _kept(replica: Replica | None, model: str, upstream: ReplicaSettings) -> Replica | None:
    """The running replica for ``upstream`` if it is the same one (weight updated), else None."""
    if replica is None or replica.served_model != (upstream.served_model or model):
        return None
    if replica.headers != _credentials(model, upstream):
        return None
    replica.weight = upstream.weight
    return replica


def _credentials(model: str, replica: ReplicaSettings) -> dict[str, str]:
    """The bearer token named by ``api_key_env`` (read when the settings loaded); a missing one stops the
    start."""
    if replica.api_key_env is None:
        return {}
    token = replica.token
    if token is None:
        raise RuntimeError(
            f"model {model}: replica {replica.base_url} wants a token in ${replica.api_key_env}, "
            "which is not set"
        )
    return {"authorization": f"Bearer {token.get_secret_value()}"}


class ModelDirectory:
    """Name -> :class:`ModelPool` for every model in the config, in config order."""

    def __init__(
        self,
        models: list[ModelSettings],
        gateway: GatewaySettings,
        metrics: GatewayMetrics,
        *,
        clock: Clock,
        previous: ModelDirectory | None = None,
    ) -> None:
        thresholds = HealthThresholds(gateway.health_failure_threshold, gateway.health_recovery_threshold)
        self._pools: dict[str, ModelPool] = {}
        # A reload keeps the replicas it still has (their health, breaker and counts in flight).
        kept = (
            {(r.model, r.base_url): r for pool in previous.pools() for r in pool.replicas} if previous else {}
        )
        for model in models:
            replicas = [
                _kept(kept.get((model.name, upstream.base_url)), model.name, upstream)
                or Replica(
                    model.name,
                    upstream.base_url,
                    weight=upstream.weight,
                    thresholds=thresholds,
                    breaker=make_breaker(
                        gateway.circuit_breaker,
                        clock=clock,
                        on_transition=BreakerTransitions(model.name, upstream.base_url, metrics),
                    ),
                    metrics=metrics,
                    served_model=upstream.served_model,
                    headers=_credentials(model.name, upstream),
                )
                for upstream in model.upstreams
            ]
            pool = ModelPool(
                model, replicas, make_balancer(model.balancing), Timeouts.for_model(gateway, model), metrics
            )
            self._pools[model.name] = pool

    def pools(self) -> list[ModelPool]:
        return list(self._pools.values())

    def healthy(self) -> list[ModelPool]:
        return [pool for pool in self._pools.values() if pool.healthy]

    def get(self, name: str) -> ModelPool | None:
        return self._pools.get(name)

    def resolve(self, name: str) -> ModelPool:
        """The pool for ``name``; 404 if no such model is configured."""
        pool = self._pools.get(name)
        if pool is None:
            raise ModelNotFound(f"The model `{name}` does not exist.", param="model")
        return pool
