"""The span attribute names Citadel writes: OpenTelemetry's GenAI semantic conventions (v1.37+) and HTTP's.

Spelled here rather than imported from ``opentelemetry.semconv._incubating``: that module is private and
its names move between releases, while these strings are the convention itself.
"""

from __future__ import annotations

from typing import Final

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"

HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
URL_FULL: Final = "url.full"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# Citadel's own: prompt tokens whose keys and values came from the prefix cache.
CITADEL_PREFIX_REUSED_TOKENS: Final = "citadel.prefix_cache.reused_tokens"
# The gateway's: the model (pool) an attempt went to, its number among the request's attempts (1 first),
# whether the response cache answered, and what retrieval added.
CITADEL_MODEL: Final = "citadel.model"
CITADEL_ATTEMPT: Final = "citadel.upstream.attempt"
CITADEL_CACHE: Final = "citadel.cache"
CITADEL_CACHE_HIT: Final = "citadel.cache.hit"
CITADEL_RETRIEVAL_COLLECTION: Final = "citadel.retrieval.collection"
CITADEL_RETRIEVAL_POINTS: Final = "citadel.retrieval.points"

# Citadel's own engine: the provider every model service reports.
PROVIDER_CITADEL: Final = "citadel"

# What each OpenAI endpoint does, in the conventions' words (``gen_ai.operation.name``).
OPERATION_BY_PATH: Final = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "text_completion",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "chat",  # translated to chat completions by the gateway
    "/v1/messages": "chat",
}


def span_name(operation: str, model: str | None) -> str:
    """The conventions' span name, ``{gen_ai.operation.name} {gen_ai.request.model}``.

    >>> span_name("chat", "smollm2-135m-instruct")
    'chat smollm2-135m-instruct'
    """
    return f"{operation} {model}" if model else operation
