"""Response cache: exact-match answers of completion requests, in-process LRU by default, Redis in production.

The gateway opens one :class:`ResponseCache` in its lifespan, calls ``plan``/``get`` before forwarding and
``put`` after a successful answer, and includes :func:`cache_admin_router`. See docs/vectors-and-cache.md.
"""

from citadel.cache.backend import CacheBackend, CacheBackendError
from citadel.cache.entry import CachedResponse
from citadel.cache.policy import CACHE_HEADER
from citadel.cache.recorder import StreamRecorder
from citadel.cache.replay import HIT, MISS, STATUS_HEADER, hit_headers, replay_chunks
from citadel.cache.service import CachePlan, ResponseCache

__all__ = [
    "CACHE_HEADER",
    "HIT",
    "MISS",
    "STATUS_HEADER",
    "CacheBackend",
    "CacheBackendError",
    "CachePlan",
    "CachedResponse",
    "ResponseCache",
    "StreamRecorder",
    "cache_admin_router",
    "hit_headers",
    "replay_chunks",
]


def __getattr__(name: str) -> object:
    # FastAPI is only imported by processes that serve the admin API.
    if name == "cache_admin_router":
        from citadel.cache.admin_routes import cache_admin_router

        return cache_admin_router
    raise AttributeError(name)
