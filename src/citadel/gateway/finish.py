"""The one place a proxied request is counted: metrics, the request log, usage counters, the cache store.

:meth:`Finisher.finish` runs once per request, when its answer is out (or the client left), and reads the
request's :class:`RequestOutcome`:

- ``llm_requests_total`` (``status`` success, error or cancelled; ``cache`` hit, miss or none) for every
  request that reached a model or was answered from the cache; ``llm_request_duration_seconds``,
  ``llm_gateway_overhead_seconds``, ``llm_time_to_first_token_seconds`` and ``llm_tokens_processed_total``
  for those that were forwarded; ``llm_active_requests`` back down for those that counted in it;
- one request-log entry for every request, and the per-key usage counters for those the request metrics
  count, through ``Governance.record``; with ``events.sink: kafka`` its ``request_received`` and
  ``request_processed`` events for those too;
- a fresh, whole, successful answer stored in the response cache (and the semantic cache);
- traced, the request's server span annotated with the GenAI request model, usage and finish reasons.

A request refused before it reached a model (bad key, unknown model) is logged but not in the request
metrics, whose ``model`` label would otherwise take any name a client sends.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from citadel.cache import CachedResponse, CachePlan
from citadel.cache.semantic import SemanticCache
from citadel.cache.service import ResponseCache
from citadel.events.gateway import GatewayEvents
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.outcome import CLIENT_CLOSED, CacheUse, RequestOutcome
from citadel.governance import Governance, RequestLogEntry
from citadel.tracing import Attributes, RequestTracer, semconv

logger = logging.getLogger(__name__)

# One per choice, in a JSON answer or a stream's last chunks (``"finish_reason": null`` does not match).
_FINISH_REASON = re.compile(rb'"finish_reason"\s*:\s*"([^"]+)"')

CLIENT_DISCONNECTED = "client_disconnected"


class Finisher:
    """Emits what a finished request's outcome says, once; built in the lifespan."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        governance: Governance,
        cache: ResponseCache,
        semantic: SemanticCache | None = None,
        *,
        access_log: bool = False,
        tracer: RequestTracer | None = None,
        events: GatewayEvents | None = None,
    ) -> None:
        self._metrics = metrics
        self._events = events
        self._tracer = tracer or RequestTracer(None)
        self._governance = governance
        self._cache = cache
        self._semantic = semantic
        self._access_log = access_log

    async def finish(
        self,
        outcome: RequestOutcome,
        plan: CachePlan | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        """Count ``outcome``, then store its answer under ``plan`` (``body``: the request as forwarded, for
        the semantic cache) if it is a fresh, whole, successful one."""
        self.account(outcome)
        if (
            plan is not None
            and outcome.cache is CacheUse.MISS
            and outcome.status == 200
            and outcome.completed
            and not outcome.failed
            and outcome.answer is not None
        ):
            await self._store(outcome, plan, body or {})

    def account(self, outcome: RequestOutcome) -> None:
        """The metrics, the access log line and the request-log entry; synchronous, so that a request
        cancelled mid-way is still counted."""
        elapsed = time.perf_counter() - outcome.started
        if outcome.in_flight is not None:
            self._metrics.child(self._metrics.active, outcome.in_flight).dec()
            outcome.in_flight = None
        model = outcome.counted_model
        if model is not None:
            self._count(outcome, model, elapsed)
        entry = _log_entry(outcome, elapsed)
        self._governance.record(entry, count_usage=model is not None)  # fills in entry.cost
        if self._events is not None and model is not None:
            self._events.request_finished(entry, time.time() - elapsed)
        if self._tracer.enabled:  # finish runs inside the server span: it is the current one
            self._tracer.annotate(_span_attributes(outcome))

    def _count(self, outcome: RequestOutcome, model: str, elapsed: float) -> None:
        metrics, child = self._metrics, self._metrics.child
        result = outcome.result.value
        child(metrics.requests, model, outcome.endpoint, result, outcome.cache.value).inc()
        if outcome.cache is not CacheUse.HIT:
            child(metrics.duration, model, outcome.endpoint).observe(elapsed)
            if outcome.ready_at is not None:
                gateway_s = outcome.ready_at - outcome.started - outcome.upstream_s
                child(metrics.overhead, model).observe(max(0.0, gateway_s))
            if outcome.first_event_at is not None:
                child(metrics.ttft, model).observe(outcome.first_event_at - outcome.started)
            for kind, count in outcome.usage.items():
                if count > 0:
                    child(metrics.tokens, model, kind).inc(count)
        if self._access_log:
            logger.info(
                "request done",
                extra={
                    "model": model,
                    "endpoint": outcome.endpoint,
                    "status": result,
                    "cache": outcome.cache.value,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )

    async def _store(self, outcome: RequestOutcome, plan: CachePlan, body: Mapping[str, Any]) -> None:
        assert outcome.answer is not None
        answer: CachedResponse | None
        if plan.stream:
            recorder = self._cache.recorder()
            for chunk in outcome.answer:
                recorder.add(chunk)
            answer = recorder.result(model=outcome.served_model)
        else:
            content_type = outcome.content_type or "application/json"
            body_bytes = b"".join(outcome.answer)
            answer = CachedResponse(200, content_type, body=body_bytes, model=outcome.served_model)
        if answer is None:
            return
        await self._cache.put(plan, answer)
        if self._semantic is not None and not plan.stream:
            await self._semantic.store(plan, body, outcome.upstream_endpoint, answer)


def _span_attributes(outcome: RequestOutcome) -> Attributes:
    attributes: dict[str, str | int | list[str]] = {semconv.CITADEL_CACHE: outcome.cache.value}
    if outcome.model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = outcome.model
    if outcome.served_model is not None:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = outcome.served_model
    if "prompt" in outcome.usage:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = outcome.usage["prompt"]
    if "completion" in outcome.usage:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = outcome.usage["completion"]
    reasons = finish_reasons(outcome.answer_tail)
    if reasons:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return attributes  # error.type is the server span's own (the status it sent)


def finish_reasons(answer: bytes) -> list[str]:
    """The choices' finish reasons in an answer (or a stream's tail), read only for a traced request.

    >>> finish_reasons(b'{"choices": [{"index": 0, "finish_reason": "length"}]}')
    ['length']
    """
    return [reason.decode("utf-8", "replace") for reason in _FINISH_REASON.findall(answer)]


def _log_entry(outcome: RequestOutcome, elapsed: float) -> RequestLogEntry:
    hit = outcome.cache is CacheUse.HIT
    ttft = outcome.first_byte_at - outcome.started if outcome.first_byte_at is not None else None
    return RequestLogEntry(
        request_id=outcome.request_id,
        key_id=outcome.key_id,
        model=outcome.model,
        served_model=outcome.served_model,
        endpoint=outcome.endpoint,
        status_code=outcome.status if outcome.completed else CLIENT_CLOSED,
        error_type=outcome.error_code or (None if outcome.completed else CLIENT_DISCONNECTED),
        latency_ms=elapsed * 1000,
        ttft_ms=ttft * 1000 if ttft is not None else None,
        prompt_tokens=0 if hit else outcome.usage.get("prompt", 0),
        completion_tokens=0 if hit else outcome.usage.get("completion", 0),
        cost=0.0 if hit else None,
        cache_hit=hit,
        transport=outcome.transport,
    )
