"""The semantic cache (off by default): a chat prompt similar enough to a cached one gets its answer.

Entries live in a vector collection (``cache.semantic.collection``). An entry is found only for the same
*shape*: the same endpoint, model, sampling parameters, earlier turns and scope (everything the exact key
covers, with the last user message left out); among those, the last user message's embedding must reach
``cache.semantic.threshold`` (cosine). Only non-streamed answers are kept. Expiry follows the exact cache's
TTL, checked on read. A failing vector store or embedding model is a miss, never an error.
``bench/semantic_cache.py`` measures hit and wrong-hit rates per threshold.

    semantic = await SemanticCache.open(settings, vectors, registry=registry)   # when cache.semantic.enabled
    hit = await semantic.lookup(plan, body, endpoint)          # after an exact miss; hit.response replays
    await semantic.store(plan, body, endpoint, response)       # next to ResponseCache.put
"""

from __future__ import annotations

import base64
import copy
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from qdrant_client.http import models

from citadel.cache.entry import CachedResponse
from citadel.cache.keys import request_key
from citadel.cache.metrics import SemanticCacheMetrics
from citadel.cache.service import CachePlan
from citadel.config import CitadelSettings
from citadel.errors import EmbeddingUnavailable, VectorStoreUnavailable
from citadel.vectors.ids import NAMESPACE
from citadel.vectors.retrieval import last_user_text
from citadel.vectors.service import NewPoint, Vectors

logger = logging.getLogger(__name__)
_CANDIDATES = 4  # nearest entries read per lookup (an expired one may be nearest)


@dataclass(frozen=True)
class SemanticHit:
    response: CachedResponse
    score: float
    prompt: str  # the cached prompt that was similar enough


class SemanticCache:
    """Similarity lookup over a vector collection; ``clock`` is wall time (each entry stores its expiry)."""

    def __init__(
        self,
        settings: CitadelSettings,
        vectors: Vectors,
        metrics: SemanticCacheMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collection = settings.cache.semantic.collection
        self.threshold = settings.cache.semantic.threshold
        self.vectors = vectors
        self.metrics = metrics
        self._clock = clock

    @classmethod
    async def open(
        cls,
        settings: CitadelSettings,
        vectors: Vectors,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        threshold: float | None = None,
    ) -> SemanticCache:
        """Create the collection if missing; ``threshold`` overrides the config's (for benchmarks)."""
        await vectors.ensure_collection(settings.cache.semantic.collection)
        cache = cls(settings, vectors, SemanticCacheMetrics(registry), clock)
        if threshold is not None:
            cache.threshold = threshold
        return cache

    async def lookup(self, plan: CachePlan, body: Mapping[str, Any], endpoint: str) -> SemanticHit | None:
        """The answer of a similar enough cached prompt of the same shape, or ``None``."""
        prompt, shape = _prompt_and_shape(plan, body, endpoint)
        if not prompt or plan.stream:
            return None
        try:
            hits = await self.vectors.search(
                self.collection,
                text=prompt,
                limit=_CANDIDATES,
                where={"shape": shape},
                score_threshold=self.threshold,
            )
        except (VectorStoreUnavailable, EmbeddingUnavailable) as exc:
            logger.warning("semantic cache lookup failed (served as a miss): %s", exc.message)
            hits = []
        now = self._clock()
        for hit in hits:
            if float(hit.payload.get("expires_at", 0)) > now:
                try:
                    response = CachedResponse.decode(base64.b64decode(str(hit.payload.get("response"))))
                except ValueError:
                    continue
                self.metrics.hits.labels(model=plan.model).inc()
                return SemanticHit(response, hit.score, str(hit.payload.get("text", "")))
        self.metrics.misses.labels(model=plan.model).inc()
        return None

    async def store(
        self, plan: CachePlan, body: Mapping[str, Any], endpoint: str, response: CachedResponse
    ) -> bool:
        """Keep a successful non-streamed answer; ``False`` when it does not qualify."""
        prompt, shape = _prompt_and_shape(plan, body, endpoint)
        if not prompt or plan.stream or response.streamed or response.status != 200:
            return False
        payload = {
            "shape": shape,
            "model": plan.model,
            "expires_at": self._clock() + plan.ttl_s,
            "response": base64.b64encode(response.encode()).decode("ascii"),
        }
        point_id = str(uuid.uuid5(NAMESPACE, f"semantic\0{shape}\0{prompt}"))
        try:
            await self.vectors.add(self.collection, [NewPoint(text=prompt, payload=payload, id=point_id)])
        except (VectorStoreUnavailable, EmbeddingUnavailable) as exc:
            logger.warning("semantic cache write failed (answer not cached): %s", exc.message)
            return False
        return True

    async def clear(self, model: str | None = None) -> int:
        """Delete every entry, or only ``model``'s; how many."""
        if model is not None:
            return await self.vectors.delete(self.collection, where={"model": model})
        return await self.vectors.store.delete(self.collection, where=models.Filter())


def _prompt_and_shape(plan: CachePlan, body: Mapping[str, Any], endpoint: str) -> tuple[str, str]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "", ""
    prompt = last_user_text(messages)
    shaped = copy.deepcopy(dict(body))
    for message in reversed(shaped["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            message["content"] = ""
            break
    return prompt, request_key(endpoint, shaped, scope=plan.scope)
