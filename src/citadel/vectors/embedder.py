"""Texts to vectors through an embedding model service's OpenAI-compatible ``/v1/embeddings``."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from citadel.config import CitadelSettings, ModelSettings
from citadel.errors import EmbeddingUnavailable, InvalidRequest


class TextEmbedder(Protocol):
    """What the vector store needs from an embedding model (the service, or one in-process for benches)."""

    name: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    async def dimensions(self) -> int: ...

    async def aclose(self) -> None: ...


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
    """Calls ``{base_url}/v1/embeddings`` with ``model``; failures become typed errors.

    >>> embedder = ServiceEmbedder("all-minilm-l6-v2", "http://127.0.0.1:11401")  # doctest: +SKIP
    >>> await embedder.embed(["hello"])  # doctest: +SKIP
    """

    def __init__(self, name: str, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: CitadelSettings) -> ServiceEmbedder:
        model = embedding_model(settings)
        return cls(model.name, model.upstreams[0].base_url)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        answer = await self._call("POST", "/v1/embeddings", {"model": self.name, "input": texts})
        data = sorted(answer["data"], key=lambda item: int(item["index"]))
        return [[float(x) for x in item["embedding"]] for item in data]

    async def dimensions(self) -> int:
        """The model card's ``dimensions``, else the length of one embedding."""
        cards = await self._call("GET", "/v1/models", None)
        for card in cards.get("data", []):
            if card.get("id") == self.name and isinstance(card.get("dimensions"), int):
                return int(card["dimensions"])
        return len((await self.embed(["dimensions"]))[0])

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            answer = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise EmbeddingUnavailable(
                f"The embedding model {self.name} at {self.base_url} is unreachable ({type(exc).__name__})."
            ) from exc
        if answer.status_code >= 500:
            raise EmbeddingUnavailable(f"The embedding model {self.name} answered {answer.status_code}.")
        try:
            parsed: dict[str, Any] = answer.json()
        except ValueError as exc:
            raise EmbeddingUnavailable(f"The embedding model {self.name} answered non-JSON.") from exc
        if answer.status_code >= 400:
            error = parsed.get("error") or {}
            raise InvalidRequest(
                f"The embedding model {self.name} refused the texts: {error.get('message', answer.text)}",
                code=error.get("code"),
            )
        return parsed

    async def aclose(self) -> None:
        await self._client.aclose()
