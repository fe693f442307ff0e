"""The vector API: ``/v1/vectors``. The app says where its ``Vectors`` is (the gateway: in its services) and
puts the router behind its API-key check::

    app.include_router(vectors_router(gateway_vectors, dependencies=[Depends(require_api_key)]))

Errors are the OpenAI-shaped ones of :mod:`citadel.errors` (404 ``collection_not_found``, 400 for a bad
body, 503 ``vector_store_unavailable`` / ``embedding_unavailable``).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and the
# dependency they name is the factory's own (a local name, which postponed annotations cannot resolve).

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsParam

from citadel.vectors.schemas import DeleteRequest, SearchRequest, UpsertRequest
from citadel.vectors.service import TEXT_KEY, NewPoint, Vectors


def vectors_router(
    vectors_of: Callable[[Request], Vectors], dependencies: Sequence[DependsParam] = ()
) -> APIRouter:
    """``GET /v1/vectors``, ``POST /v1/vectors/{c}/points``, ``POST …/search``, ``DELETE …/points``;
    ``vectors_of`` finds the app's ``Vectors`` for a request."""
    router = APIRouter(prefix="/v1/vectors", dependencies=list(dependencies))
    VectorsDep = Annotated[Vectors, Depends(vectors_of)]

    @router.get("")
    async def list_collections(vectors: VectorsDep) -> dict[str, Any]:
        counts = await vectors.counts()
        data = [
            {"object": "vector_collection", "name": name, "points": count, "dimensions": vectors.dimensions}
            for name, count in counts.items()
        ]
        return {"object": "list", "data": data, "embedding_model": vectors.embedder.name}

    @router.post("/{collection}/points")
    async def upsert(collection: str, body: UpsertRequest, vectors: VectorsDep) -> dict[str, Any]:
        points = [NewPoint(p.text, p.vector, p.payload, p.id) for p in body.points]
        ids = await vectors.add(collection, points)
        return {"object": "vector_upsert", "collection": collection, "ids": ids, "upserted": len(ids)}

    @router.post("/{collection}/search")
    async def search(collection: str, body: SearchRequest, vectors: VectorsDep) -> dict[str, Any]:
        hits = await vectors.search(
            collection,
            text=body.text,
            vector=body.vector,
            limit=body.limit,
            where=body.filter,
            score_threshold=body.score_threshold,
        )
        data = [
            {"id": hit.id, "score": hit.score, "text": hit.payload.get(TEXT_KEY), "payload": hit.payload}
            for hit in hits
        ]
        return {"object": "list", "collection": collection, "data": data}

    @router.delete("/{collection}/points")
    async def delete(collection: str, body: DeleteRequest, vectors: VectorsDep) -> dict[str, Any]:
        deleted = await vectors.delete(collection, ids=body.ids, where=body.filter)
        return {"object": "vector_delete", "collection": collection, "deleted": deleted}

    return router
