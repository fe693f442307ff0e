"""Sending one request to a model: another replica after a failure, then the model's fallbacks.

An attempt that fails before a byte went to the client (refused connection, 5xx, connection dropped before
the answer or the stream's first event) is retried on a replica not tried yet, up to ``max_attempts`` per
model; when a model has none left, its ``fallbacks`` are tried in order. A timeout after connecting is not
retried: the model was working on it and another try would double the cost. When no replica of the model or
its fallbacks could be tried at all, those that are down are probed at once (one probe per replica, shared
by concurrent requests) and the request goes ahead if one answered; only then is it a 503.

The forwarder keeps the replicas' state (load, health, breakers) and the per-attempt counters (retries,
fallbacks, pool exhaustion); what became of the request itself (the model that answered, its usage, the
upstream's time, an error's code) it writes into the request's :class:`RequestOutcome`, which is counted
once when the answer is out (:mod:`.finish`).

Traced, each attempt is a CLIENT span (``{operation} {model}``, as the GenAI conventions name it) under the
request's, naming the replica, the attempt's number and the status; its ``traceparent`` goes upstream, so
the model service's spans nest under it. A stream's attempt span ends with its first event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from starlette.responses import Response

from citadel.errors import ServiceUnavailable
from citadel.gateway.directory import ModelDirectory, ModelPool
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.outcome import RequestOutcome, error_code
from citadel.gateway.prefix_affinity import prefix_keys
from citadel.gateway.replicas import Replica
from citadel.gateway.request import ParsedRequest
from citadel.gateway.streaming import RelayResponse, StreamOutcome
from citadel.gateway.upstream import (
    AttemptFailed,
    FailureKind,
    classify,
    deadlines,
    pool_exhausted,
    replica_failure,
)
from citadel.gateway.upstream_http import (
    PoolTimeout,
    UpstreamClient,
    UpstreamError,
    UpstreamResponse,
)
from citadel.gateway.usage import usage_counts
from citadel.tracing import Attributes, RequestTracer, semconv

logger = logging.getLogger(__name__)

# Response headers of the upstream that the client should see; hop-by-hop ones are the server's business.
_PASSED_HEADERS = ("content-type", "cache-control", "retry-after", "content-encoding")
MODEL_HEADER = "x-citadel-model"


@dataclass(slots=True)
class Exchange:
    """One client request on its way to a model: what to send, and where to write what became of it."""

    request: ParsedRequest
    headers: dict[str, str]  # extra response headers (e.g. the routing rule, rate limits)
    outcome: RequestOutcome


class _StatusFailure(AttemptFailed):
    """A replica answered 5xx; if no other can answer, the client gets this answer as it was."""

    def __init__(self, response: Response, model: str, content: bytes) -> None:
        super().__init__(FailureKind.STATUS, f"answered {response.status_code}")
        self.response = response
        self.model = model
        self.content = content


class Forwarder:
    """Runs the attempts for each request through one pooled client, keeping health and metrics current."""

    def __init__(
        self,
        client: UpstreamClient,
        directory: ModelDirectory,
        monitor: HealthMonitor,
        metrics: GatewayMetrics,
        *,
        max_attempts: int,
        tracer: RequestTracer | None = None,
    ) -> None:
        self._client = client
        self._tracer = tracer or RequestTracer(None)
        self._directory = directory
        self._monitor = monitor
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._deadlines = {pool.name: deadlines(pool.timeouts) for pool in directory.pools()}

    async def forward(self, pool: ModelPool, exchange: Exchange) -> Response:
        """The first good answer from ``pool`` or its fallbacks; a typed error if none could give one.

        The request counts in ``llm_active_requests`` from here until it is finished (:mod:`.finish`).
        """
        outcome = exchange.outcome
        outcome.pool = outcome.in_flight = pool.name
        self._metrics.child(self._metrics.active, pool.name).inc()
        chain = [pool, *(self._directory.resolve(name) for name in pool.fallbacks)]
        response = await self._through(pool, chain, exchange)
        # No replica could even be tried: ask the ones that are down once more (a restarted model service
        # answers before the monitor's next probe) before saying 503.
        if response is None and await self._revive(chain):
            response = await self._through(pool, chain, exchange)
        if response is None:
            raise ServiceUnavailable(
                f"The model `{pool.name}` is currently unavailable (no healthy replica).",
                code="model_unavailable",
            )
        return response

    async def _revive(self, chain: list[ModelPool]) -> bool:
        """Probe the models in ``chain`` that have no healthy replica; whether one has now."""
        revived = await asyncio.gather(*(self._monitor.probe_now(p) for p in chain if not p.healthy))
        return any(revived)

    async def _through(self, pool: ModelPool, chain: list[ModelPool], exchange: Exchange) -> Response | None:
        """The first good answer along ``chain``, a typed error if every attempt failed, or None if no
        replica could be tried at all."""
        last: AttemptFailed | None = None
        attempts = 0
        for position, target in enumerate(chain):
            tried: list[Replica] = []
            keys = prefix_keys(exchange.request.body) if target.balancer.wants_prefix else ()
            while len(tried) < self._max_attempts:
                replica = target.pick(tried, keys)
                if replica is None:
                    break
                if last is not None:
                    self._metrics.child(self._metrics.retries, pool.name, last.kind.value).inc()
                tried.append(replica)
                attempts += 1
                try:
                    response = await self._traced_attempt(target, replica, attempts, exchange)
                except AttemptFailed as failure:
                    logger.warning(
                        "attempt failed: %s",
                        failure.detail,
                        extra={"model": target.name, "replica": replica.base_url},
                    )
                    last = failure
                    if not failure.retryable:
                        raise failure.client_error(target.name) from failure
                    continue
                if position:
                    self._metrics.child(self._metrics.fallbacks, pool.name, target.name).inc()
                return response
        if last is None:
            return None
        if isinstance(last, _StatusFailure):
            outcome = exchange.outcome
            outcome.served_model = last.model
            outcome.failed = True
            outcome.error_code = error_code(last.content)
            return last.response
        raise last.client_error(pool.name)

    async def _traced_attempt(
        self, pool: ModelPool, replica: Replica, number: int, exchange: Exchange
    ) -> Response:
        """One attempt in its own span (a do-nothing one when tracing is off)."""
        tracer = self._tracer
        if not tracer.enabled:
            body = exchange.request.for_model(replica.served_model)
            return await self._attempt(pool, replica, body, exchange)
        endpoint = exchange.outcome.upstream_endpoint
        operation = semconv.OPERATION_BY_PATH.get(endpoint, endpoint)
        name = semconv.span_name(operation, replica.served_model)
        attributes = attempt_attributes(pool, replica, number, operation, endpoint)
        # A stream's attempt lasts until its relay ends, which ends the span; any other ends here, after
        # the block has marked a failure on it.
        response: Response | None = None
        span: Span = INVALID_SPAN
        try:
            with tracer.span(name, attributes, kind=SpanKind.CLIENT, end_on_exit=False) as span:
                try:
                    body = exchange.request.for_model(replica.served_model)
                    response = await self._attempt(pool, replica, body, exchange, span)
                    return response
                except AttemptFailed as failure:
                    span.set_attribute(semconv.ERROR_TYPE, failure.kind.value)
                    raise
        finally:
            if not isinstance(response, RelayResponse):
                span.end()

    async def _attempt(
        self, pool: ModelPool, replica: Replica, body: bytes, exchange: Exchange, span: Span | None = None
    ) -> Response:
        """``span``: the attempt's, when traced (its status code and response model are set here)."""
        replica.begin()
        handed_over = False  # a stream's relay takes over the bookkeeping when it starts
        succeeded: bool | None = None  # None: ended without a verdict (cancelled)
        sent = time.perf_counter()
        try:
            try:
                upstream = await self._client.post(
                    replica.url(exchange.outcome.upstream_endpoint),
                    body,
                    replica.request_headers,
                    self._deadlines[pool.name],
                    request_id=exchange.outcome.request_id,
                    trace_headers=self._tracer.headers(),  # the attempt span's traceparent; () when off
                )
            except PoolTimeout as exc:
                logger.warning("%s", exc, extra={"model": pool.name, "replica": replica.base_url})
                raise pool_exhausted(self._metrics, pool, replica, exc) from exc
            except UpstreamError as exc:
                succeeded = False
                raise replica_failure(exc, self._monitor, pool, replica) from exc
            replica.record_first_byte(time.perf_counter() - sent)
            if span is not None:
                span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, upstream.status)
                if upstream.status < 400:
                    span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, replica.served_model)
            if exchange.request.stream and upstream.status == 200:
                try:
                    response = await self._open_stream(pool, replica, upstream, exchange, sent, span)
                except AttemptFailed:
                    succeeded = False
                    raise
                handed_over = True
                return response
            try:
                content = await upstream.read()
            except UpstreamError as exc:
                succeeded = False
                raise classify(exc) from exc
            finally:
                upstream.release()
            outcome = exchange.outcome
            answered = time.perf_counter()
            outcome.upstream_s += answered - sent
            response = Response(content, upstream.status, _passed_headers(upstream, pool, exchange))
            if upstream.status >= 500:
                succeeded = False
                raise _StatusFailure(response, pool.name, content)
            succeeded = True
            replica.note_success()
            outcome.served_model = pool.name
            outcome.ready_at = answered
            outcome.usage = usage_counts(content)
            outcome.answer_tail = content
            if upstream.status >= 400:
                outcome.error_code = error_code(content)
            return response
        finally:
            if not handed_over:
                replica.end()
                _verdict(replica, succeeded)

    async def _open_stream(
        self,
        pool: ModelPool,
        replica: Replica,
        upstream: UpstreamResponse,
        exchange: Exchange,
        sent: float,
        span: Span | None,
    ) -> Response:
        """Wait for the stream's first event (so a replica that dies before it can still be retried);
        ``span``, the attempt's when traced, ends with the relay."""
        try:
            first = await upstream.readany()
        except UpstreamError as exc:
            upstream.close()
            raise classify(exc) from exc
        except BaseException:  # cancelled (the client left): the connection is not handed back half-read
            upstream.close()
            raise
        if not first:
            upstream.close()
            raise AttemptFailed(FailureKind.DISCONNECTED, "the stream ended before its first event")
        now = time.perf_counter()
        outcome = exchange.outcome
        outcome.upstream_s += now - sent
        outcome.served_model = pool.name
        outcome.ready_at = outcome.first_event_at = now

        def finish(ended: StreamOutcome) -> None:
            replica.end()
            if span is not None:
                if ended is StreamOutcome.FAILED:
                    span.set_attribute(semconv.ERROR_TYPE, FailureKind.DISCONNECTED.value)
                span.end()
            if ended is StreamOutcome.SUCCESS:
                replica.note_success()
            _verdict(replica, {StreamOutcome.SUCCESS: True, StreamOutcome.FAILED: False}.get(ended))
            if ended is StreamOutcome.FAILED:
                logger.warning(
                    "stream broke off mid-way", extra={"model": pool.name, "replica": replica.base_url}
                )

        headers = _passed_headers(upstream, pool, exchange)
        return RelayResponse(
            upstream, first, headers, finish, outcome, strip_usage=exchange.request.usage_added
        )


def _verdict(replica: Replica, succeeded: bool | None) -> None:
    if succeeded is None:
        replica.breaker.abandoned()
    elif succeeded:
        replica.breaker.succeeded()
    else:
        replica.breaker.failed()


def attempt_attributes(
    pool: ModelPool, replica: Replica, number: int, operation: str, endpoint: str
) -> Attributes:
    url = replica.url(endpoint)
    return {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_REQUEST_MODEL: replica.served_model,
        semconv.CITADEL_MODEL: pool.name,
        semconv.CITADEL_ATTEMPT: number,
        semconv.URL_FULL: str(url),
        semconv.SERVER_ADDRESS: url.host or "",
        semconv.SERVER_PORT: url.port or 0,
    }


def _passed_headers(upstream: UpstreamResponse, pool: ModelPool, exchange: Exchange) -> dict[str, str]:
    headers = {name: value for name in _PASSED_HEADERS if (value := upstream.header(name)) is not None}
    headers[MODEL_HEADER] = pool.name
    headers.update(exchange.headers)
    return headers
