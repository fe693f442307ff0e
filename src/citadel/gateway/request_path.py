"""What every proxied request goes through: admission, retrieval, the response cache, forwarding, the log.

    parse → admit (key, model, budget, rate limit) → retrieval (chat) → exact cache (then semantic)
          → route → forward (replicas, retries, fallbacks) → answer, watched → finish (metrics, request
            log, usage, cache store)

Both ways in (``GatewayApp``'s fast path and FastAPI's routes, for browsers) call :func:`complete`, and the
fast path skips FastAPI's middleware: whatever every proxied request must pass belongs here.

A request is parsed once. Its bytes go upstream as the client sent them unless something must change them:
retrieval (which rewrites the messages), routing or a fallback (which rename the model), or a stream whose
usage the gateway asks for (see :meth:`ParsedRequest.for_model`). Answers go back as the upstream sent them;
what the gateway adds goes in headers. Each step writes what it learns into the request's one
:class:`RequestOutcome`, which :class:`~citadel.gateway.finish.Finisher` counts once.

A request in another API (Responses, Anthropic Messages) comes as a chat completion request with its
:class:`~citadel.gateway.dialect.Dialect`, which completes it once the key is known and translates the answer
on its way out (see :mod:`.dialect`).

Traced, admission, retrieval and the cache lookup each run in a child span of the request's server span
(the upstream attempts' spans are the forwarder's); off, each costs one check of ``tracer.enabled``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response, StreamingResponse

from citadel.cache import (
    CACHE_HEADER,
    MISS,
    STATUS_HEADER,
    CachedResponse,
    CachePlan,
    hit_headers,
    replay_chunks,
)
from citadel.cache.semantic import SemanticCache
from citadel.cache.service import ResponseCache
from citadel.errors import CitadelError, ServiceUnavailable, UnexpectedError, error_response
from citadel.gateway.dialect import Dialect
from citadel.gateway.forwarding import Exchange
from citadel.gateway.observer import ObservedResponse
from citadel.gateway.outcome import CacheUse, RequestOutcome
from citadel.gateway.request import ParsedRequest, parse_request
from citadel.gateway.request_id import HEADER_KEY as REQUEST_ID_HEADER_KEY
from citadel.gateway.request_id import current_request_id
from citadel.gateway.services import GatewayServices
from citadel.gateway.translated import TranslatedResponse
from citadel.governance.estimate import estimate_tokens
from citadel.tracing import semconv
from citadel.vectors import RETRIEVAL_HEADER, Augmented, Vectors, augment, retrieval_header
from citadel.vectors.retrieval import EXTENSION_FIELD

CHAT = "/v1/chat/completions"
# The collection retrieval searched (the point ids are in x-citadel-retrieval).
RETRIEVAL_COLLECTION_HEADER = "x-citadel-retrieval-collection"

logger = logging.getLogger(__name__)


class _Request:
    """One request between the steps: what it asks (parsed once), what its cache plan is, how it ends."""

    __slots__ = ("dialect", "outcome", "parsed", "plan")

    def __init__(self, parsed: ParsedRequest, outcome: RequestOutcome, dialect: Dialect | None) -> None:
        self.parsed = parsed
        self.outcome = outcome
        self.dialect = dialect
        self.plan: CachePlan | None = None


async def complete(
    services: GatewayServices,
    endpoint: str,
    raw: bytes,
    headers: Mapping[str, str],
    request_id: str | None = None,
    *,
    transport: str = "http",
    dialect: Dialect | None = None,
) -> Response:
    """The answer to one proxied request, watched until it is out, then finished once (counted, logged
    and, if asked, cached).

    ``request_id``: given by the fast path, which leaves adding its header to the answer; otherwise the
    request id middleware's (which adds the header itself). ``transport``: how the client reached the
    gateway (``citadel.live`` passes ws, sse or graphql), for the request log. A bug in any step is
    answered as a 500 naming the request id, logged here once with its traceback, and written to the
    request log as an error.

    ``dialect``: ``raw`` is a chat completion request translated from the API at ``endpoint``; the answer
    goes out through the dialect's translator.
    """
    parsed = parse_request(raw)
    outcome = RequestOutcome(
        endpoint,
        request_id or current_request_id.get() or "",
        time.perf_counter(),
        model=parsed.model,
        transport=transport,
        upstream_endpoint=CHAT if dialect is not None else endpoint,
    )
    request = _Request(parsed, outcome, dialect)
    finisher = services.finisher
    try:
        response = await _answer(services, request, headers)
    except CitadelError as exc:
        outcome.error_code = exc.code or exc.error_type
        response = error_response(exc)
    except asyncio.CancelledError:  # the client or the server gave up on it: counted, then let go
        finisher.account(outcome)
        raise
    except Exception:
        logger.exception("unexpected error answering %s (request %s)", endpoint, outcome.request_id)
        error = UnexpectedError(outcome.request_id)
        outcome.error_code = error.code
        response = error_response(error)

    async def finish() -> None:
        await finisher.finish(outcome, request.plan, request.parsed.body)

    added = [(REQUEST_ID_HEADER_KEY, request_id.encode())] if request_id else []
    observed = ObservedResponse(response, outcome, finish, added)
    return observed if dialect is None else TranslatedResponse(observed, dialect.translator())


async def _answer(services: GatewayServices, request: _Request, headers: Mapping[str, str]) -> Response:
    governance, tracer = services.governance, services.tracer
    parsed, outcome = request.parsed, request.outcome
    with tracer.span("admission", {semconv.GEN_AI_REQUEST_MODEL: parsed.model} if tracer.enabled else None):
        admission = await governance.admit(
            headers.get("authorization"), parsed.model, estimate_tokens(len(parsed.raw), parsed.max_tokens())
        )
    outcome.key_id = admission.key_id
    if request.dialect is not None:
        request.parsed = parsed = await request.dialect.prepare(parsed, admission.key_id)
    extra = dict(admission.headers)
    vectors = services.vectors
    endpoint = outcome.upstream_endpoint
    if _wants_retrieval(vectors, endpoint, parsed):
        with tracer.span("retrieval") as span:
            augmented = await _retrieve(vectors, parsed.body)
            if tracer.enabled and augmented.collection is not None:
                span.set_attributes(
                    {
                        semconv.CITADEL_RETRIEVAL_COLLECTION: augmented.collection,
                        semconv.CITADEL_RETRIEVAL_POINTS: len(augmented.point_ids),
                    }
                )
        request.parsed = parsed = parsed.with_body(augmented.body)
        if augmented.collection is not None:
            extra[RETRIEVAL_HEADER] = retrieval_header(augmented.point_ids)
            extra[RETRIEVAL_COLLECTION_HEADER] = augmented.collection
    cache = services.response_cache
    key_id = admission.key_id
    request.plan = cache.plan(
        endpoint,
        parsed.body,
        header=headers.get(CACHE_HEADER),
        api_key_id=str(key_id) if key_id is not None else None,
    )
    if request.plan is not None:
        with tracer.span("cache lookup") as span:
            hit = await _cached(cache, services.semantic_cache, request.plan, parsed, endpoint)
            if tracer.enabled:
                span.set_attribute(semconv.CITADEL_CACHE_HIT, hit is not None)
        if hit is not None:
            outcome.cache = CacheUse.HIT
            outcome.served_model = hit.model
            return _replay(hit, extra)
        outcome.cache = CacheUse.MISS
        outcome.keep_answer()  # to store the answer once it is out
        extra[STATUS_HEADER] = MISS
    pool, route_headers = services.routing.resolve(parsed, headers)
    return await services.forwarder.forward(pool, Exchange(parsed, {**route_headers, **extra}, outcome))


def _wants_retrieval(vectors: Vectors | None, endpoint: str, parsed: ParsedRequest) -> bool:
    """Whether the body must go through retrieval: it carries the ``citadel`` field (which never goes
    upstream), or it is a chat request to a model with a retrieval default."""
    if EXTENSION_FIELD in parsed.body:
        return True
    return endpoint == CHAT and vectors is not None and parsed.model in vectors.settings.vectors.retrieval


async def _retrieve(vectors: Vectors | None, body: dict[str, Any]) -> Augmented:
    """The body with retrieved context (and without the ``citadel`` extension field)."""
    if vectors is None:
        if isinstance(body.get(EXTENSION_FIELD), dict) and "retrieval" in body[EXTENSION_FIELD]:
            raise ServiceUnavailable(
                "Retrieval is not available: the vector store is off (see the gateway's start-up log).",
                code="vector_store_unavailable",
            )
        return Augmented({key: value for key, value in body.items() if key != EXTENSION_FIELD})
    return await augment(body, vectors)


async def _cached(
    cache: ResponseCache,
    semantic: SemanticCache | None,
    plan: CachePlan,
    parsed: ParsedRequest,
    endpoint: str,
) -> CachedResponse | None:
    hit = await cache.get(plan)
    if hit is None and semantic is not None and not plan.stream:
        found = await semantic.lookup(plan, parsed.body, endpoint)
        hit = found.response if found is not None else None
    return hit


def _replay(hit: CachedResponse, extra: dict[str, str]) -> Response:
    headers = {**extra, **hit_headers(hit)}
    if hit.streamed:
        return StreamingResponse(replay_chunks(hit), headers=headers, media_type=hit.content_type)
    return Response(hit.body, status_code=hit.status, headers=headers, media_type=hit.content_type)
