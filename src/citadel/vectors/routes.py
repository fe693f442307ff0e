"""The vector API: ``/v1/vectors``. The gateway keeps its ``Vectors`` on ``app.state.vectors`` and includes
the router behind its API-key check::

    app.include_router(vectors_router(dependencies=[Depends(require_api_key)]))

Errors are the OpenAI-shaped ones of :mod:`citadel.errors` (404 ``collection_not_found``, 400 for a bad
body, 503 ``vector_store_unavailable`` / ``embedding_unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsParam

from citadel.vectors.schemas import DeleteRequest, SearchRequest, UpsertRequest
from citadel.vectors.service import TEXT_KEY, NewPoint, Vectors


def _vectors(request: Request) -> Vectors:
    vectors: Vectors = request.app.state.vectors
    return vectors


VectorsDep = Annotated[Vectors, Depends(_vectors)]


def vectors_router(dependencies: Sequence[DependsParam] = ()) -> APIRouter:
    """``GET /v1/vectors``, ``POST /v1/vectors/{c}/points``, ``POST …/search``, ``DELETE …/points``."""
    router = APIRouter(prefix="/v1/vectors", dependencies=list(dependencies))

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
