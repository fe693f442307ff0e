"""``POST /admin/cache/clear``: empties the response cache of the gateway process that serves it.

The app says where its ``ResponseCache`` is (the gateway: in its services) and includes the router with its
admin check, e.g.::

    app.include_router(cache_admin_router(gateway_response_cache, dependencies=[Depends(require_admin)]))

With the in-process backend every worker has its own cache: a call empties the worker that answers it
(run ``citadel gateway`` with one worker, or use Redis, for a clear that reaches every entry).
"""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime, and the
# dependency they name is the factory's own (a local name, which postponed annotations cannot resolve).

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsParam
from pydantic import BaseModel, ConfigDict

from citadel.cache.backend import CacheBackendError
from citadel.cache.service import ResponseCache
from citadel.errors import ServiceUnavailable


class CacheClear(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None


def cache_admin_router(
    cache_of: Callable[[Request], ResponseCache], dependencies: Sequence[DependsParam] = ()
) -> APIRouter:
    """The admin route; ``cache_of`` finds the app's cache for a request, ``dependencies`` guard the route
    (the gateway's admin-key check)."""
    router = APIRouter(prefix="/admin/cache", dependencies=list(dependencies))
    CacheDep = Annotated[ResponseCache, Depends(cache_of)]

    @router.post("/clear")
    async def clear(cache: CacheDep, body: CacheClear | None = None) -> dict[str, Any]:
        model = body.model if body is not None else None
        try:
            cleared = await cache.clear(model)
        except CacheBackendError as exc:
            raise ServiceUnavailable(f"The response cache cannot be reached: {exc}") from exc
        return {"object": "cache.clear", "model": model, "cleared": cleared, "backend": cache.backend.name}

    return router
