"""``ResponseCache``: what the gateway calls around forwarding a completion request.

    cache = await ResponseCache.open(settings, registry=registry)         # in the lifespan
    plan = cache.plan("/v1/chat/completions", body, header=request.headers.get("x-citadel-cache"),
                      api_key_id=admission.key_id)                        # after retrieval rewrote the body
    if plan is not None and (hit := await cache.get(plan)) is not None:
        ...                                                               # replay hit.body or hit.chunks
    ...                                                                   # forward
    await cache.put(plan, CachedResponse(200, "application/json", body=answer, model=answered_by))
    # streams: recorder = cache.recorder(); recorder.add(chunk) per chunk relayed;
    #          await cache.put(plan, recorder.result(model=answered_by))   # None (cut stream): nothing stored
    await cache.aclose()

A backend failure never fails a request: a read that fails is a miss, a write that fails is skipped; both
are counted in ``llm_cache_errors_total`` and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from citadel.cache.backend import CacheBackend, CacheBackendError, make_backend
from citadel.cache.entry import CachedResponse
from citadel.cache.keys import KEY_PREFIX, model_prefix, request_key, scope_for
from citadel.cache.metrics import CacheMetrics
from citadel.cache.policy import should_cache
from citadel.cache.recorder import StreamRecorder
from citadel.config import CitadelSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachePlan:
    """A cacheable request: where its answer lives and for how long."""

    key: str
    model: str
    ttl_s: float
    stream: bool
    scope: str = "shared"


class ResponseCache:
    """Exact-match response cache for one gateway process."""

    def __init__(self, settings: CitadelSettings, backend: CacheBackend, metrics: CacheMetrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics

    @classmethod
    async def open(
        cls,
        settings: CitadelSettings,
        *,
        registry: CollectorRegistry | None = None,
        backend: CacheBackend | None = None,
        clock: Callable[[], float] | None = None,
    ) -> ResponseCache:
        """The configured backend (``cache.backend``, else Redis when ``redis.url`` is set, else memory)."""
        chosen = backend if backend is not None else make_backend(settings, clock=clock)
        return cls(settings, chosen, CacheMetrics(registry))

    def reconfigure(self, settings: CitadelSettings) -> None:
        """Take a reloaded config's cache policy (TTLs, per-model modes); the backend stays."""
        self.settings = settings

    def plan(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        header: str | None = None,
        api_key_id: str | None = None,
    ) -> CachePlan | None:
        """The plan for a request, or ``None`` when it is not to be cached (off, policy, not deterministic).

        ``body`` is the JSON that goes upstream; ``header`` the request's ``x-citadel-cache`` (a value other
        than on/off raises ``InvalidRequest``).
        """
        config = self.settings.cache
        model = str(body.get("model", ""))
        policy = config.models.get(model)
        if not config.enabled or not should_cache(body, header, policy):
            return None
        scope = scope_for(api_key_id, per_key=config.per_key)
        ttl_s = policy.ttl_s if policy is not None and policy.ttl_s is not None else config.ttl_s
        key = request_key(endpoint, body, scope=scope)
        return CachePlan(key, model, ttl_s, bool(body.get("stream")), scope)

    async def get(self, plan: CachePlan) -> CachedResponse | None:
        """The cached answer (counted as a hit) or ``None`` (a miss)."""
        try:
            data = await self.backend.get(plan.key)
        except CacheBackendError as exc:
            self.metrics.errors.labels(operation="get").inc()
            logger.warning("response cache read failed (served as a miss): %s", exc)
            data = None
        found = _decode(data, plan.key) if data is not None else None
        (self.metrics.hits if found is not None else self.metrics.misses).labels(model=plan.model).inc()
        return found

    async def put(self, plan: CachePlan, response: CachedResponse | None) -> bool:
        """Store a successful answer; ``False`` when not stored (``None``, not 200, too big, failed)."""
        if response is None or response.status != 200 or response.size > self.settings.cache.max_entry_bytes:
            return False
        try:
            await self.backend.set(plan.key, response.encode(), plan.ttl_s)
        except CacheBackendError as exc:
            self.metrics.errors.labels(operation="set").inc()
            logger.warning("response cache write failed (answer not cached): %s", exc)
            return False
        self.metrics.stores.labels(model=plan.model).inc()
        return True

    def recorder(self) -> StreamRecorder:
        """A recorder for a stream being relayed; pass ``recorder.result(...)`` to :meth:`put` at its end."""
        return StreamRecorder(max_bytes=self.settings.cache.max_entry_bytes)

    async def clear(self, model: str | None = None) -> int:
        """Delete every entry, or only ``model``'s; how many. Raises ``CacheBackendError``."""
        return await self.backend.clear(model_prefix(model) if model is not None else f"{KEY_PREFIX}:")

    async def aclose(self) -> None:
        await self.backend.aclose()


def _decode(data: bytes, key: str) -> CachedResponse | None:
    try:
        return CachedResponse.decode(data)
    except ValueError as exc:
        logger.warning("response cache entry %s is unreadable (served as a miss): %s", key, exc)
        return None
