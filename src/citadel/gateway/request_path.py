"""What every proxied request goes through: admission, retrieval, the response cache, forwarding, the log.

    parse → admit (key, model, budget, rate limit) → retrieval (chat) → exact cache (then semantic)
          → route → forward (replicas, retries, fallbacks) → answer, watched → request log, cache store

Both ways in (``GatewayApp``'s fast path and FastAPI's routes, for browsers) call :func:`complete`, and the
fast path skips FastAPI's middleware: whatever every proxied request must pass belongs here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import State
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
from citadel.gateway.forwarding import MODEL_HEADER, Exchange, Forwarder
from citadel.gateway.observer import AnswerObserver, ObservedResponse
from citadel.gateway.request import ParsedRequest, parse_request
from citadel.gateway.request_id import HEADER_KEY as REQUEST_ID_HEADER_KEY
from citadel.gateway.request_id import current_request_id
from citadel.gateway.routing import Router
from citadel.governance import Admission, Governance, RequestLogEntry
from citadel.governance.estimate import estimate_tokens
from citadel.vectors import RETRIEVAL_HEADER, Augmented, Vectors, augment, retrieval_header
from citadel.vectors.retrieval import EXTENSION_FIELD

CHAT = "/v1/chat/completions"

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Request:
    """One request's state between the steps."""

    endpoint: str
    parsed: ParsedRequest
    started: float
    request_id: str
    admission: Admission | None = None
    plan: CachePlan | None = None
    hit: CachedResponse | None = None
    augmented: Augmented | None = None
    exchange: Exchange | None = None  # once routed


async def complete(
    state: State, endpoint: str, raw: bytes, headers: Mapping[str, str], request_id: str | None = None
) -> Response:
    """The answer to one proxied request, watched until it is out (then logged and, if asked, cached).

    ``request_id``: given by the fast path, which leaves adding its header to the answer; otherwise the
    request id middleware's (which adds the header itself). A bug in any step is answered as a 500 naming
    the request id, logged here once with its traceback, and written to the request log as an error.
    """
    request = _Request(
        endpoint, parse_request(raw), time.perf_counter(), request_id or current_request_id.get() or ""
    )
    observer = AnswerObserver(request.started, keep_body=False)
    try:
        response = await _answer(state, request, headers, observer)
    except CitadelError as exc:
        response = error_response(exc)
    except Exception:
        logger.exception("unexpected error answering %s (request %s)", endpoint, request.request_id)
        response = error_response(UnexpectedError(request.request_id))

    async def finish() -> None:
        await _finish(state, request, observer)

    added = [(REQUEST_ID_HEADER_KEY, request_id.encode())] if request_id else []
    return ObservedResponse(response, observer, finish, added)


async def _answer(
    state: State, request: _Request, headers: Mapping[str, str], observer: AnswerObserver
) -> Response:
    governance: Governance = state.governance
    parsed = request.parsed
    request.admission = await governance.admit(
        headers.get("authorization"), parsed.model, estimate_tokens(len(parsed.raw), parsed.max_tokens())
    )
    extra = dict(request.admission.headers)
    if EXTENSION_FIELD in parsed.body or (request.endpoint == CHAT and state.vectors is not None):
        request.augmented = await _retrieve(state.vectors, parsed.body)
        request.parsed = parsed = parse_request(json.dumps(request.augmented.body).encode())
        if request.augmented.collection is not None:
            extra[RETRIEVAL_HEADER] = retrieval_header(request.augmented.point_ids)
    cache: ResponseCache = state.response_cache
    key_id = request.admission.key_id
    request.plan = cache.plan(
        request.endpoint,
        parsed.body,
        header=headers.get(CACHE_HEADER),
        api_key_id=str(key_id) if key_id is not None else None,
    )
    if request.plan is not None:
        request.hit = await _cached(cache, state.semantic_cache, request)
        if request.hit is not None:
            return _replay(request.hit, extra)
        extra[STATUS_HEADER] = MISS
        observer.keep_body = True  # to store the answer once it is out
    routing: Router = state.routing
    pool, route_headers = routing.resolve(parsed, headers)
    request.exchange = exchange = Exchange(
        endpoint=request.endpoint,
        request=parsed,
        requested=pool.name,
        request_id=request.request_id,
        started=request.started,
        headers={**route_headers, **extra},
    )
    forwarder: Forwarder = state.forwarder
    response = await forwarder.forward(pool, exchange)
    if request.augmented is not None and request.augmented.collection is not None and not parsed.stream:
        response = _with_extension(response, request.augmented.extension)
    return response


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
    cache: ResponseCache, semantic: SemanticCache | None, request: _Request
) -> CachedResponse | None:
    assert request.plan is not None
    hit = await cache.get(request.plan)
    if hit is None and semantic is not None and not request.plan.stream:
        found = await semantic.lookup(request.plan, request.parsed.body, request.endpoint)
        hit = found.response if found is not None else None
    return hit


def _replay(hit: CachedResponse, extra: dict[str, str]) -> Response:
    headers = {**extra, **hit_headers(hit)}
    if hit.streamed:
        return StreamingResponse(replay_chunks(hit), headers=headers, media_type=hit.content_type)
    return Response(hit.body, status_code=hit.status, headers=headers, media_type=hit.content_type)


def _with_extension(response: Response, extension: dict[str, Any]) -> Response:
    """A JSON answer with the ``citadel`` extension field (which points retrieval used) added."""
    if response.status_code != 200:
        return response
    try:
        body = json.loads(bytes(response.body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response
    body[EXTENSION_FIELD] = extension
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(json.dumps(body).encode(), status_code=200, headers=headers)


async def _finish(state: State, request: _Request, observer: AnswerObserver) -> None:
    """Log the request (never blocks) and store a fresh, complete, successful answer in the cache."""
    governance: Governance = state.governance
    served = observer.header(MODEL_HEADER)
    # The forwarder's count first: a stream's usage chunk may have been kept from the client (and so from
    # the observer) when the gateway asked for it on the client's behalf.
    exchange = request.exchange
    usage = exchange.usage if exchange is not None and exchange.usage is not None else observer.usage
    hit = request.hit is not None
    # 499 (nginx's "client closed request"): the client left before the whole answer was out.
    status = observer.status if observer.completed else 499
    error = observer.error_code or (None if observer.completed else "client_disconnected")
    ttft = observer.first_byte_at - request.started if observer.first_byte_at is not None else None
    governance.record(
        RequestLogEntry(
            request_id=request.request_id,
            key_id=request.admission.key_id if request.admission is not None else None,
            model=request.parsed.model,
            served_model=served,
            endpoint=request.endpoint,
            status_code=status,
            error_type=error,
            latency_ms=(time.perf_counter() - request.started) * 1000,
            ttft_ms=ttft * 1000 if ttft is not None else None,
            prompt_tokens=0 if hit else usage.get("prompt", 0),
            completion_tokens=0 if hit else usage.get("completion", 0),
            cost=0.0 if hit else None,
            cache_hit=hit,
        )
    )
    if request.plan is not None and not hit and status == 200 and observer.completed:
        await _store(state, request, observer, served)


async def _store(state: State, request: _Request, observer: AnswerObserver, served: str | None) -> None:
    assert request.plan is not None
    cache: ResponseCache = state.response_cache
    if request.plan.stream:
        recorder = cache.recorder()
        for chunk in observer.chunks:
            recorder.add(chunk)
        answer = recorder.result(model=served)
    else:
        content_type = observer.header("content-type") or "application/json"
        answer = CachedResponse(200, content_type, body=b"".join(observer.chunks), model=served)
    if answer is None:
        return
    await cache.put(request.plan, answer)
    semantic: SemanticCache | None = state.semantic_cache
    if semantic is not None and not request.plan.stream:
        await semantic.store(request.plan, request.parsed.body, request.endpoint, answer)
