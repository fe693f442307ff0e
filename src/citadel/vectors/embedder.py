"""Texts to vectors through an embedding model's OpenAI-compatible ``/v1/embeddings``.

The embedder does not hold a client of its own: it calls its model through a :class:`ModelTransport`, in the
gateway :class:`citadel.gateway.model_calls.ModelCalls`, which takes the road every call to a model takes
(the model directory's balancing, health and breakers, the one upstream client, request ids, metrics).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from citadel.config import CitadelSettings, ModelSettings
from citadel.errors import CitadelError, EmbeddingUnavailable, InvalidRequest


class TextEmbedder(Protocol):
    """What the vector store needs from an embedding model (the service, or one in-process for benches)."""

    name: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    async def dimensions(self) -> int: ...

    async def aclose(self) -> None: ...


class ModelTransport(Protocol):
    """A call to a configured model: ``(status, body)``; a :class:`CitadelError` when no replica answered."""

    async def call(self, model: str, method: str, endpoint: str, body: bytes = b"") -> tuple[int, bytes]: ...


def embedding_model(settings: CitadelSettings) -> ModelSettings:
    """``vectors.embedding_model``, else the first model with backend ``sentence-transformers``."""
    name = settings.vectors.embedding_model
    if name is not None:
        return settings.model(name)
    for model in settings.models:
        if model.backend == "sentence-transformers":
            return model
    raise LookupError(
        "no embedding model: set vectors.embedding_model or configure a sentence-transformers model"
    )


class ServiceEmbedder:
    """Calls the model ``name``'s ``/v1/embeddings`` through ``transport``; failures become typed errors.

    >>> embedder = ServiceEmbedder("all-minilm-l6-v2", model_calls)  # doctest: +SKIP
    >>> await embedder.embed(["hello"])  # doctest: +SKIP
    """

    def __init__(self, name: str, transport: ModelTransport) -> None:
        self.name = name
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: CitadelSettings, transport: ModelTransport) -> ServiceEmbedder:
        return cls(embedding_model(settings).name, transport)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        body = json.dumps({"model": self.name, "input": texts}).encode()
        answer = await self._call("POST", "/v1/embeddings", body)
        data = sorted(answer["data"], key=lambda item: int(item["index"]))
        return [[float(x) for x in item["embedding"]] for item in data]

    async def dimensions(self) -> int:
        """The model card's ``dimensions``, else the length of one embedding."""
        cards = await self._call("GET", "/v1/models", b"")
        for card in cards.get("data", []):
            if card.get("id") == self.name and isinstance(card.get("dimensions"), int):
                return int(card["dimensions"])
        return len((await self.embed(["dimensions"]))[0])

    async def _call(self, method: str, endpoint: str, body: bytes) -> dict[str, Any]:
        try:
            status, content = await self._transport.call(self.name, method, endpoint, body)
        except CitadelError as exc:
            raise EmbeddingUnavailable(
                f"The embedding model {self.name} is unreachable ({exc.message})"
            ) from exc
        if status >= 500:
            raise EmbeddingUnavailable(f"The embedding model {self.name} answered {status}.")
        try:
            parsed = json.loads(content)
        except ValueError as exc:
            raise EmbeddingUnavailable(f"The embedding model {self.name} answered non-JSON.") from exc
        if not isinstance(parsed, dict):
            raise EmbeddingUnavailable(f"The embedding model {self.name} answered a non-object.")
        if status >= 400:
            error = parsed.get("error") or {}
            reason = error.get("message", content[:200].decode(errors="replace"))
            raise InvalidRequest(
                f"The embedding model {self.name} refused the texts: {reason}",
                code=error.get("code"),
            )
        return parsed

    async def aclose(self) -> None:
        """Nothing to close: the transport belongs to whoever opened it (the gateway's lifespan)."""
