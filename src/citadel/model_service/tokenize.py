"""vLLM's ``POST /tokenize``: a prompt's tokens, or a chat's as the model's template renders it.

``{"prompt": ...}`` tokenizes the text as given; ``{"messages": [...]}`` (and ``tools``) renders them first
as a chat completion does (the chat template, tools offered the engine's way), so that ``count`` is the
``prompt_tokens`` that request would use (the gateway's ``/v1/messages/count_tokens`` asks this). The answer
is vLLM's:
``{"count", "tokens", "max_model_len"}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from citadel.errors import ModelNotFound
from citadel.model_service.schemas import ChatMessage, Tool
from citadel.model_service.service import ModelService
from citadel.model_service.tool_prompt import render_chat

router = APIRouter()


class TokenizeRequest(BaseModel):
    """Exactly one of ``prompt`` and ``messages``."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    prompt: str | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1)] | None = None
    tools: list[Tool] | None = None  # offered with the messages, as a chat request offers them
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt and messages")
        return self


def _service(request: Request) -> ModelService:
    service: ModelService = request.app.state.model_service
    return service


@router.post("/tokenize")
async def tokenize(
    body: TokenizeRequest, service: Annotated[ModelService, Depends(_service)]
) -> dict[str, Any]:
    if body.model is not None and body.model != service.name:
        raise ModelNotFound(f"The model `{body.model}` does not exist.", param="model")
    if body.messages is not None:
        text = render_chat(service.model.chat_template, body.messages, body.tools)
    else:
        assert body.prompt is not None
        text = body.prompt
    tokens = await service.tokenize(text, add_special_tokens=body.add_special_tokens)
    return {"tokens": tokens, "count": len(tokens), "max_model_len": service.max_model_len}
