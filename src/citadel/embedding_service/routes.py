"""HTTP routes of the embedding service: ``/v1/embeddings``, models, health and metrics."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from citadel.embedding_service.schemas import EmbeddingRequest
from citadel.embedding_service.service import EmbeddingService
from citadel.errors import ContextLengthExceeded, InvalidRequest, ModelNotFound
from citadel.tracing import semconv

router = APIRouter()


def _service(request: Request) -> EmbeddingService:
    service: EmbeddingService = request.app.state.embedding_service
    return service


ServiceDep = Annotated[EmbeddingService, Depends(_service)]


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, service: ServiceDep) -> dict[str, Any]:
    started = time.perf_counter()
    if body.model != service.name:
        raise ModelNotFound(f"The model `{body.model}` does not exist.", param="model")
    if body.dimensions is not None and body.dimensions != service.encoder.dimensions:
        raise InvalidRequest(
            f"`dimensions` is not supported: {service.name} always returns "
            f"{service.encoder.dimensions} dimensions.",
            param="dimensions",
        )
    texts = body.inputs
    vocab = service.encoder.vocab_size
    for index, item in enumerate(texts):
        if not isinstance(item, str) and (min(item) < 0 or max(item) >= vocab):
            raise InvalidRequest(
                f"input[{index}] has token ids outside the vocabulary (0 to {vocab - 1})", param="input"
            )
    counts = await asyncio.to_thread(service.encoder.count_tokens, texts)
    longest = max(counts)
    if longest > service.max_tokens:
        index = counts.index(longest)
        raise ContextLengthExceeded(
            f"input[{index}] has {longest} tokens; this model's maximum is {service.max_tokens}.",
            param="input",
        )
    encode_started = time.perf_counter()
    vectors = await service.batcher.embed(texts)
    encoded_at = time.perf_counter()
    data = []
    for index, vector in enumerate(vectors):
        encoded: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
            if body.encoding_format == "base64"
            else vector.tolist()
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    total = sum(counts)
    service.metrics.prompt_tokens.inc(total)
    service.metrics.e2e_latency.observe(time.perf_counter() - started)
    if service.tracer.enabled:
        _record_spans(service, body.model, total, (started, encode_started, encoded_at))
    return {
        "object": "list",
        "data": data,
        "model": service.name,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }


@router.get("/v1/models")
async def list_models(service: ServiceDep) -> dict[str, Any]:
    card = {
        "id": service.name,
        "object": "model",
        "created": service.created,
        "owned_by": "citadel",
        "root": str(service.encoder.path),
        "max_model_len": service.max_tokens,
        "dimensions": service.encoder.dimensions,
    }
    return {"object": "list", "data": [card]}


def _record_spans(service: EmbeddingService, model: str, tokens: int, times: tuple[float, ...]) -> None:
    """The GenAI span of this request and, under it, the batched encoding (its wait for a batch included)."""
    started, encode_started, encoded_at = times
    attributes: dict[str, str | int] = {
        semconv.GEN_AI_OPERATION_NAME: "embeddings",
        semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_CITADEL,
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_RESPONSE_MODEL: service.name,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: tokens,
    }
    tracer = service.tracer
    name = semconv.span_name("embeddings", model)
    span = tracer.record(name, started, time.perf_counter(), attributes, parent=tracer.current())
    tracer.record("embedding.encode", encode_started, encoded_at, parent=span)
