"""HTTP routes of the built-in model service: vLLM's OpenAI-compatible surface."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from citadel.errors import ModelNotFound
from citadel.model_service.engine_trace import request_attributes
from citadel.model_service.responses import ResponseWriter
from citadel.model_service.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
)
from citadel.model_service.service import ModelService, Outcome, Prepared
from citadel.tracing import semconv

router = APIRouter()


def _service(request: Request) -> ModelService:
    service: ModelService = request.app.state.model_service
    return service


ServiceDep = Annotated[ModelService, Depends(_service)]


def _check_model(service: ModelService, model: str | None) -> None:
    if model is not None and model != service.name:
        raise ModelNotFound(f"The model `{model}` does not exist.", param="model")


async def _answer(
    service: ModelService,
    prepared: Prepared,
    request: ChatCompletionRequest | CompletionRequest,
    *,
    chat: bool,
) -> Any:
    writer = ResponseWriter(
        service.name,
        chat=chat,
        logprobs=request.logprob_count is not None,
        parses_tool_calls=prepared.parses_tool_calls,
    )
    outcome = Outcome(prompt_tokens=len(prepared.prompt))
    traced = None
    if service.tracer.enabled:
        traced = request_attributes(
            "chat" if chat else "text_completion",
            request.model,
            service.name,
            max_tokens=prepared.params.max_tokens,
            stream=request.stream,
        )
        traced[semconv.GEN_AI_RESPONSE_ID] = writer.id
    deltas = service.generate(prepared, outcome, traced)
    if request.stream:
        chunks = writer.stream(deltas, outcome, include_usage=request.include_usage, n=request.n)
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
    return writer.body([delta async for delta in deltas], outcome)


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep) -> Any:
    _check_model(service, body.model)
    return await _answer(service, await service.prepare_chat(body), body, chat=True)


@router.post("/v1/completions")
async def completions(body: CompletionRequest, service: ServiceDep) -> Any:
    _check_model(service, body.model)
    return await _answer(service, await service.prepare_completion(body), body, chat=False)


@router.get("/v1/models")
async def list_models(service: ServiceDep) -> dict[str, Any]:
    card = {
        "id": service.name,
        "object": "model",
        "created": service.created,
        "owned_by": "citadel",
        "root": str(service.model.path),
        "parent": None,
        "max_model_len": service.max_model_len,
    }
    return {"object": "list", "data": [card]}


@router.post("/detokenize")
async def detokenize(body: DetokenizeRequest, service: ServiceDep) -> dict[str, str]:
    _check_model(service, body.model)
    return {"prompt": await service.detokenize(body.tokens)}
