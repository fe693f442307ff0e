"""``Vectors``: the vector store plus the embedding model, as the gateway's routes and retrieval use them.

    vectors = await Vectors.open(settings, transport=model_calls)  # in the lifespan; creates collections
    ids = await vectors.add("hermes_embeddings", [NewPoint(text="Qdrant stores vectors.")])
    hits = await vectors.search("hermes_embeddings", text="what stores vectors?", limit=4)
    await vectors.aclose()

Only configured collections (``vectors.collections``, plus the semantic cache's when it is on) can be used:
any other name is a 404 ``collection_not_found``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from citadel.config import CitadelSettings
from citadel.errors import CollectionNotFound, EmbeddingUnavailable, InvalidRequest
from citadel.vectors.embedder import ModelTransport, ServiceEmbedder, TextEmbedder, embedding_model
from citadel.vectors.filters import payload_filter
from citadel.vectors.ids import PointId, checked_point_id, text_point_id, vector_point_id
from citadel.vectors.store import Hit, Point, VectorStore

logger = logging.getLogger(__name__)
TEXT_KEY = "text"  # where a point's text is kept in its payload


@dataclass(frozen=True)
class NewPoint:
    """A point to add: its ``text`` (embedded unless ``vector`` is given) or a raw ``vector``."""

    text: str | None = None
    vector: list[float] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    id: PointId | None = None


class Vectors:
    """Collections sized to the embedding model; texts embedded by it."""

    def __init__(
        self, settings: CitadelSettings, store: VectorStore, embedder: TextEmbedder, dimensions: int
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.dimensions = dimensions
        self.collections: list[str] = list(dict.fromkeys(settings.vectors.collections))

    @classmethod
    async def open(
        cls,
        settings: CitadelSettings,
        *,
        transport: ModelTransport | None = None,
        embedder: TextEmbedder | None = None,
        store: VectorStore | None = None,
    ) -> Vectors:
        """Open the store, learn the embedding size and create the configured collections that are missing.

        Texts are embedded by ``embedder``, else by the embedding model reached through ``transport``.
        """
        if embedder is not None:
            chosen_embedder = embedder
        elif transport is not None:
            chosen_embedder = ServiceEmbedder.from_settings(settings, transport)
        else:
            raise TypeError("Vectors.open needs an embedder or a transport to the embedding model")
        chosen_store = store if store is not None else await VectorStore.open(settings)
        try:
            dimensions = await _dimensions(settings, chosen_store, chosen_embedder)
            vectors = cls(settings, chosen_store, chosen_embedder, dimensions)
            await chosen_store.ensure_collections(vectors.collections, dimensions)
        except BaseException:
            await chosen_store.aclose()
            await chosen_embedder.aclose()
            raise
        return vectors

    def reconfigure(self, settings: CitadelSettings) -> None:
        """Take a reloaded config's retrieval defaults; the store, collections and embedder stay."""
        self.settings = settings

    async def ensure_collection(self, name: str) -> None:
        """Create (if missing) and allow one more collection, e.g. the semantic cache's."""
        await self.store.ensure_collections([name], self.dimensions)
        if name not in self.collections:
            self.collections.append(name)

    def check(self, collection: str) -> str:
        if collection not in self.collections:
            raise CollectionNotFound(
                f"No vector collection {collection!r}; configured: {', '.join(self.collections) or 'none'}.",
                param="collection",
            )
        return collection

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = await self.embedder.embed(texts)
        if any(len(vector) != self.dimensions for vector in vectors):
            raise EmbeddingUnavailable(
                f"The embedding model {self.embedder.name} returned vectors of another size than "
                f"{self.dimensions}."
            )
        return vectors

    async def add(self, collection: str, points: Sequence[NewPoint]) -> list[PointId]:
        """Embed the texts that need it and upsert; the ids, in order. The same content gets the same id."""
        self.check(collection)
        to_embed = [(i, p.text) for i, p in enumerate(points) if p.vector is None and p.text is not None]
        embedded = dict(
            zip([i for i, _ in to_embed], await self.embed([t for _, t in to_embed]), strict=True)
        )
        ready: list[Point] = []
        for index, point in enumerate(points):
            vector = point.vector if point.vector is not None else embedded.get(index)
            if vector is None:
                raise InvalidRequest("a point needs a text or a vector", param=f"points[{index}]")
            self._check_size(vector, f"points[{index}].vector")
            payload = dict(point.payload)
            if point.text is not None:
                payload[TEXT_KEY] = point.text
            ready.append(Point(_point_id(point, payload, index), vector, payload))
        await self.store.upsert(collection, ready)
        return [point.id for point in ready]

    async def search(
        self,
        collection: str,
        *,
        text: str | None = None,
        vector: list[float] | None = None,
        limit: int = 4,
        where: Mapping[str, Any] | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """The ``limit`` points nearest ``text`` (embedded) or ``vector`` whose payload matches ``where``."""
        self.check(collection)
        if vector is None:
            if text is None:
                raise InvalidRequest("a search needs a text or a vector", param="text")
            vector = (await self.embed([text]))[0]
        self._check_size(vector, "vector")
        return await self.store.search(
            collection, vector, limit=limit, where=payload_filter(where), score_threshold=score_threshold
        )

    async def delete(
        self, collection: str, *, ids: Sequence[PointId] = (), where: Mapping[str, Any] | None = None
    ) -> int:
        """Delete by ids and/or payload filter; how many points went."""
        self.check(collection)
        checked = [checked_point_id(value, f"ids[{i}]") for i, value in enumerate(ids)]
        condition = payload_filter(where)
        if not checked and condition is None:
            raise InvalidRequest("give ids or a filter of the points to delete", param="ids")
        return await self.store.delete(collection, ids=checked, where=condition)

    async def counts(self) -> dict[str, int]:
        return {name: await self.store.count(name) for name in self.collections}

    def _check_size(self, vector: Sequence[float], param: str) -> None:
        if len(vector) != self.dimensions:
            raise InvalidRequest(f"a vector has {self.dimensions} dimensions, not {len(vector)}", param=param)

    async def aclose(self) -> None:
        try:
            await self.store.aclose()
        finally:
            await self.embedder.aclose()


def unavailable_reason(settings: CitadelSettings) -> str | None:
    """Why this gateway process cannot serve vectors (then leave them off), or ``None``.

    No embedding model is configured; or local mode with several gateway workers (one process owns it).
    """
    try:
        embedding_model(settings)
    except LookupError as exc:
        return str(exc)
    if settings.vectors.url is None and settings.gateway.workers > 1:
        return (
            f"the local vector store has one owner and the gateway runs {settings.gateway.workers} workers: "
            "set vectors.url to a Qdrant server"
        )
    return None


async def open_vectors(settings: CitadelSettings, transport: ModelTransport) -> Vectors | None:
    """``Vectors.open(settings, transport=transport)``, or ``None`` with a warning when
    :func:`unavailable_reason` says so."""
    reason = unavailable_reason(settings)
    if reason is not None:
        logger.warning("vectors and retrieval are off: %s", reason)
        return None
    return await Vectors.open(settings, transport=transport)


def _point_id(point: NewPoint, payload: Mapping[str, Any], index: int) -> PointId:
    if point.id is not None:
        return checked_point_id(point.id, f"points[{index}].id")
    if point.text is not None:
        return text_point_id(point.text)
    assert point.vector is not None
    return vector_point_id(point.vector, payload)


async def _dimensions(settings: CitadelSettings, store: VectorStore, embedder: TextEmbedder) -> int:
    """``vectors.dimensions``; else the embedding model's; else, while it is away, the collections' own."""
    if settings.vectors.dimensions is not None:
        return settings.vectors.dimensions
    try:
        return await embedder.dimensions()
    except EmbeddingUnavailable:
        sizes = set((await store.collection_sizes()).values())
        if len(sizes) != 1:
            raise
        size = sizes.pop()
        logger.warning("embedding model %s unreachable at start; collections are %d-d", embedder.name, size)
        return size
