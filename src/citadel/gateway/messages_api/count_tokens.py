"""``POST /v1/messages/count_tokens``: the prompt's length in the model's own tokens.

The request is translated as for ``/v1/messages`` and its chat messages and tools sent to the model's
``/tokenize`` (vLLM's, and the built-in model service's), which renders them as a chat request renders them
and counts them — the ``prompt_tokens`` the same request would use. The call takes the road every call of
the gateway to its models takes (:class:`~citadel.gateway.model_calls.ModelCalls`: balancing, health,
breakers). A
backend without ``/tokenize`` (a remote OpenAI-compatible API answers 404) gets an estimate instead, four
characters a token over the messages and the tools' JSON, flagged by ``x-citadel-token-count: estimated``.

The key is checked (and whether it may use the model), but counting is not a generation: it is not rate
limited, logged in the request log or charged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from citadel.errors import CitadelError, InvalidRequest, PermissionDenied, UpstreamFailed
from citadel.gateway.json_fields import text_field
from citadel.gateway.messages_api.request import chat_messages, chat_tools, read_body
from citadel.gateway.services import GatewayServices

COUNT_HEADER = "x-citadel-token-count"
_CHARS_PER_TOKEN = 4


async def count_tokens(services: GatewayServices, raw: bytes, headers: Mapping[str, str]) -> JSONResponse:
    body = read_body(raw)
    model = text_field(body, "model", "model", required=True)
    assert model is not None
    messages = chat_messages(body)
    tools = chat_tools(body)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "none":
        tools = []  # not offered to the model, as a chat request with tool_choice none does not offer them
    principal = await services.governance.authenticate(headers.get("authorization"))
    if not principal.allows(model):
        raise PermissionDenied(
            f"This API key is not allowed to use the model {model!r}.",
            param="model",
            code="model_not_allowed",
        )
    payload = json.dumps({"messages": messages, **({"tools": tools} if tools else {})}).encode()
    status, content = await services.model_calls.call(model, "POST", "/tokenize", payload)
    if status in (404, 405):  # no /tokenize on this backend
        tools_tokens = len(json.dumps(tools)) // _CHARS_PER_TOKEN if tools else 0
        return JSONResponse(
            {"input_tokens": estimate(messages) + tools_tokens}, headers={COUNT_HEADER: "estimated"}
        )
    if status != 200:
        raise _upstream_error(status, content)
    try:
        count = json.loads(content)["count"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamFailed("The model's token count could not be read.") from exc
    return JSONResponse({"input_tokens": int(count)}, headers={COUNT_HEADER: "exact"})


def estimate(messages: list[dict[str, Any]]) -> int:
    """Four characters a token, over the messages' text and tool calls."""
    chars = 0
    for message in messages:
        chars += len(message.get("content") or "")
        for call in message.get("tool_calls") or ():
            chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return max(1, chars // _CHARS_PER_TOKEN)


def _upstream_error(status: int, content: bytes) -> CitadelError:
    message = "The model could not count the tokens."
    with contextlib.suppress(ValueError, KeyError, TypeError):  # not OpenAI's shape: the generic one stands
        message = str(json.loads(content)["error"]["message"])
    if 400 <= status < 500:
        return InvalidRequest(message)
    return UpstreamFailed(message)
