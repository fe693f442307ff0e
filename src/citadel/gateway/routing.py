"""Resolving the model a request names: a real model, or a virtual one (e.g. ``auto``) by explicit rules.

A virtual model's rules are tried in config order. A rule applies when every condition in its ``when`` holds
(estimated prompt tokens within bounds; the request asks for every listed capability tag in the
``x-citadel-capabilities`` header). Its candidates are its ``models`` that are healthy, whose context window
(``limits.max_model_len``) holds the estimated prompt plus ``max_tokens``, and that carry every capability the
request asks for; ``pick`` chooses among them: ``first_available`` (config order), ``least_loaded``
(fewest requests in flight per replica) or ``cheapest`` (lowest ``cost``). A rule with no candidate passes
to the next.
The response names the rule in ``x-citadel-route-rule`` and the model in ``x-citadel-model``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from citadel.config.sections import RoutingRule, VirtualModelSettings
from citadel.config.splits import SplitSettings
from citadel.errors import ServiceUnavailable
from citadel.gateway.ab import SPLIT_HEADER, Splits
from citadel.gateway.directory import ModelDirectory, ModelPool
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.request import ParsedRequest

logger = logging.getLogger(__name__)

CAPABILITIES_HEADER = "x-citadel-capabilities"
RULE_HEADER = "x-citadel-route-rule"
_NO_HEADERS: dict[str, str] = {}


class Router:
    """Maps a request to the pool that should take it, plus the headers that explain the choice."""

    def __init__(
        self,
        directory: ModelDirectory,
        virtual_models: list[VirtualModelSettings],
        metrics: GatewayMetrics,
        *,
        splits: list[SplitSettings] | None = None,
    ) -> None:
        self._directory = directory
        self._virtual = {virtual.name: virtual for virtual in virtual_models}
        self._metrics = metrics
        self._splits = Splits(splits or ())

    def available_virtual_models(self) -> list[str]:
        names = [name for name, virtual in self._virtual.items() if self._any_healthy(virtual)]
        real = {pool.name for pool in self._directory.pools()}
        return names + [
            name
            for name in self._splits.names()
            if name not in real
            and any(self._directory.resolve(m).healthy for m in self._splits.variants(name))
        ]

    def resolve(self, request: ParsedRequest, headers: Mapping[str, str]) -> tuple[ModelPool, dict[str, str]]:
        """The pool for ``request.model``; 404 for an unknown name, 503 when no rule finds a model."""
        if request.model in self._splits:
            variants = [
                self._directory.resolve(name) for name in self._splits.order(request.model, request, headers)
            ]
            pool = next((pool for pool in variants if pool.healthy), variants[0])
            return pool, {SPLIT_HEADER: f"{request.model}={pool.name}"}
        virtual = self._virtual.get(request.model)
        if virtual is None:
            return self._directory.resolve(request.model), _NO_HEADERS
        asked = _capabilities(headers.get(CAPABILITIES_HEADER, ""))
        prompt_tokens = request.estimated_prompt_tokens()
        needed_tokens = prompt_tokens + request.max_tokens()
        for rule in virtual.rules:
            if not _applies(rule, prompt_tokens, asked):
                continue
            candidates = [
                pool
                for pool in (self._directory.resolve(name) for name in rule.models)
                if pool.healthy
                and needed_tokens <= pool.settings.limits.max_model_len
                and asked <= set(pool.settings.capabilities)
            ]
            if candidates:
                chosen = _pick(rule, candidates)
                self._metrics.routing.labels(virtual.name, rule.name, chosen.name).inc()
                logger.debug("routed by rule %s to %s", rule.name, chosen.name, extra={"model": chosen.name})
                return chosen, {RULE_HEADER: rule.name}
        raise ServiceUnavailable(
            f"No rule of `{virtual.name}` found an available model for this request "
            f"(about {prompt_tokens} prompt tokens, capabilities {sorted(asked) or 'none'}).",
            code="no_route",
        )

    def _any_healthy(self, virtual: VirtualModelSettings) -> bool:
        return any(
            pool.healthy for rule in virtual.rules for pool in map(self._directory.resolve, rule.models)
        )


def _capabilities(header: str) -> set[str]:
    return {tag.strip().lower() for tag in header.split(",") if tag.strip()}


def _applies(rule: RoutingRule, prompt_tokens: int, asked: set[str]) -> bool:
    when = rule.when
    if when.min_prompt_tokens is not None and prompt_tokens < when.min_prompt_tokens:
        return False
    if when.max_prompt_tokens is not None and prompt_tokens > when.max_prompt_tokens:
        return False
    return set(when.capabilities) <= asked


def _pick(rule: RoutingRule, candidates: list[ModelPool]) -> ModelPool:
    if rule.pick == "least_loaded":
        return min(candidates, key=lambda pool: pool.outstanding / len(pool.replicas))
    if rule.pick == "cheapest":
        return min(candidates, key=lambda pool: pool.settings.cost)
    return candidates[0]
