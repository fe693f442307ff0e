"""``VectorStore``: Qdrant through qdrant-client, a server (``vectors.url``) or on-disk local mode (``path``).

qdrant-client's local mode is synchronous and takes a file lock: one process owns the folder. Every call
runs on the store's own threads, never on the event loop: one thread in local mode (its storage is not
meant for concurrent use), a small pool for a server. With local mode, run the gateway with one worker;
several workers need a Qdrant server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
from qdrant_client import QdrantClient
from qdrant_client.http import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from citadel.config import CitadelSettings
from citadel.config.secrets import reveal
from citadel.errors import VectorStoreUnavailable
from citadel.vectors.ids import PointId

logger = logging.getLogger(__name__)
T = TypeVar("T")
_SERVER_THREADS = 8
_FAILURES = (UnexpectedResponse, ResponseHandlingException, httpx.HTTPError, grpc.RpcError, OSError)


@dataclass(frozen=True)
class Point:
    id: PointId
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: PointId
    score: float
    payload: dict[str, Any]


def local_path(settings: CitadelSettings) -> Path:
    """``vectors.path``; a relative path that does not already start with ``data_dir`` is put under it."""
    path = settings.vectors.path
    if path.is_absolute() or path.parts[: len(settings.data_dir.parts)] == settings.data_dir.parts:
        return path
    return settings.data_dir / path


class VectorStore:
    """Collections of fixed-size cosine vectors with JSON payloads."""

    def __init__(self, client: QdrantClient, *, local: bool, where: str) -> None:
        self._client = client
        self.local = local
        self.where = where
        self._executor = ThreadPoolExecutor(
            1 if local else _SERVER_THREADS, thread_name_prefix="citadel-vectors"
        )

    @classmethod
    async def open(cls, settings: CitadelSettings) -> VectorStore:
        """Connect to the server, or open (creating) the local folder; ``VectorStoreUnavailable`` if not."""
        config = settings.vectors
        if config.url:
            factory = functools.partial(
                QdrantClient,
                url=config.url,
                prefer_grpc=config.prefer_grpc,
                grpc_port=config.grpc_port,
                api_key=reveal(config.api_key),
                timeout=max(1, round(config.timeout_s)),
                check_compatibility=False,
            )
            where = config.url
        else:
            path = local_path(settings)
            path.mkdir(parents=True, exist_ok=True)
            factory = functools.partial(QdrantClient, path=str(path))
            where = str(path)
        try:
            client = await asyncio.to_thread(factory)
        except RuntimeError as exc:  # local mode: the folder is locked by another process
            raise VectorStoreUnavailable(
                f"The local vector store {where} is in use by another process ({exc}); local mode has one "
                "owner: run one gateway worker, or set vectors.url to a Qdrant server."
            ) from exc
        return cls(client, local=not config.url, where=where)

    async def _run(self, call: Callable[[QdrantClient], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call, self._client)
        except _FAILURES as exc:
            raise VectorStoreUnavailable(
                f"The vector store {self.where} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def collection_sizes(self) -> dict[str, int]:
        """Every collection's vector size."""

        def sizes(client: QdrantClient) -> dict[str, int]:
            found: dict[str, int] = {}
            for description in client.get_collections().collections:
                vectors = client.get_collection(description.name).config.params.vectors
                if isinstance(vectors, models.VectorParams):
                    found[description.name] = vectors.size
            return found

        return await self._run(sizes)

    async def ensure_collections(self, names: Sequence[str], size: int) -> list[str]:
        """Create the missing ones (cosine, ``size``); the names created. A size mismatch is an error."""
        existing = await self.collection_sizes()
        wrong = {name: existing[name] for name in names if name in existing and existing[name] != size}
        if wrong:
            raise ValueError(
                f"vector collections {wrong} exist with another size than the embedding model's {size}; "
                "delete them or point vectors.embedding_model at the model that filled them"
            )
        missing = [name for name in names if name not in existing]
        params = models.VectorParams(size=size, distance=models.Distance.COSINE)
        for name in missing:
            await self._run(functools.partial(_create, name=name, params=params))
        if missing:
            logger.info("created vector collections %s (%d dimensions)", ", ".join(missing), size)
        return missing

    async def upsert(self, collection: str, points: Sequence[Point]) -> None:
        structs = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
        await self._run(lambda client: client.upsert(collection, points=structs, wait=True))

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int,
        where: models.Filter | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        def query(client: QdrantClient) -> list[Hit]:
            found = client.query_points(
                collection,
                query=list(vector),
                limit=limit,
                query_filter=where,
                score_threshold=score_threshold,
                with_payload=True,
            )
            return [
                Hit(_plain_id(point.id), point.score, dict(point.payload or {})) for point in found.points
            ]

        return await self._run(query)

    async def delete(
        self, collection: str, *, ids: Sequence[PointId] = (), where: models.Filter | None = None
    ) -> int:
        """Delete points by id and/or filter; how many the collection lost."""

        def delete(client: QdrantClient) -> int:
            before = client.count(collection, exact=True).count
            if ids:
                client.delete(collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)
            if where is not None:
                client.delete(collection, points_selector=models.FilterSelector(filter=where), wait=True)
            return before - client.count(collection, exact=True).count

        return await self._run(delete)

    async def count(self, collection: str, where: models.Filter | None = None) -> int:
        return await self._run(lambda client: client.count(collection, count_filter=where, exact=True).count)

    async def retrieve(self, collection: str, ids: Sequence[PointId]) -> list[Mapping[str, Any]]:
        found = await self._run(lambda client: client.retrieve(collection, ids=list(ids), with_payload=True))
        return [{"id": point.id, "payload": dict(point.payload or {})} for point in found]

    async def aclose(self) -> None:
        try:
            await self._run(lambda client: client.close())
        finally:
            self._executor.shutdown(wait=False)


def _create(client: QdrantClient, *, name: str, params: models.VectorParams) -> None:
    client.create_collection(name, vectors_config=params)


def _plain_id(value: object) -> PointId:
    return value if isinstance(value, int) else str(value)
