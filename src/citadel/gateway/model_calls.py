"""The gateway's own calls to its models (embeddings for retrieval and the semantic cache).

They take the road a client's request takes, short of a client: a replica picked by the model's balancer,
its breaker and health kept current, another replica after a connect error, a drop or a 5xx, the ones that
are down probed at once when none could be tried, all through the one upstream client with the
``x-request-id`` of the request under way (or a new one), counted in ``llm_upstream_latency_seconds``,
``llm_replica_outstanding_requests``, ``llm_retries_total`` and ``llm_upstream_pool_exhausted_total``;
traced, each attempt is a client span whose ``traceparent`` goes to the model service, as a forwarded
request's attempts are.

    calls = ModelCalls(client, directory, monitor, metrics, max_attempts=3)     # in the lifespan
    status, body = await calls.call("all-minilm-l6-v2", "POST", "/v1/embeddings", b'{"input": ["hi"]}')
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings
from citadel.errors import ServiceUnavailable
from citadel.gateway.breaker import Clock
from citadel.gateway.directory import ModelDirectory, ModelPool
from citadel.gateway.forwarding import attempt_attributes
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.replicas import Replica
from citadel.gateway.request_id import current_request_id, request_ids
from citadel.gateway.upstream import (
    AttemptFailed,
    FailureKind,
    classify,
    deadlines,
    open_client,
    pool_exhausted,
    replica_failure,
)
from citadel.gateway.upstream_errors import PoolTimeout, UpstreamError
from citadel.gateway.upstream_pool import UpstreamClient
from citadel.tracing import RequestTracer, semconv

logger = logging.getLogger(__name__)


class ModelCalls:
    """Calls to the models in the directory, answered ``(status, body)``; raises the client-facing error
    (``model_unavailable``, ``model_unreachable``, ``upstream_timeout``, ``upstream_pool_exhausted``) when
    no replica answered below 500. A last 5xx answer is returned as it was."""

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
        self._new_ids = request_ids()

    async def call(self, model: str, method: str, endpoint: str, body: bytes = b"") -> tuple[int, bytes]:
        pool = self._directory.resolve(model)
        request_id = current_request_id.get() or next(self._new_ids)
        answer = await self._through(pool, method, endpoint, body, request_id)
        # No replica could be tried: a restarted service answers before the monitor's next probe.
        if answer is None and await self._monitor.probe_now(pool):
            answer = await self._through(pool, method, endpoint, body, request_id)
        if answer is None:
            raise ServiceUnavailable(
                f"The model `{pool.name}` is currently unavailable (no healthy replica).",
                code="model_unavailable",
            )
        return answer

    async def _through(
        self, pool: ModelPool, method: str, endpoint: str, body: bytes, request_id: str
    ) -> tuple[int, bytes] | None:
        tried: list[Replica] = []
        last: AttemptFailed | None = None
        last_5xx: tuple[int, bytes] | None = None
        while len(tried) < self._max_attempts:
            replica = pool.pick(tried)
            if replica is None:
                break
            if last is not None:
                self._metrics.child(self._metrics.retries, pool.name, last.kind.value).inc()
            tried.append(replica)
            try:
                status, content = await self._traced_attempt(
                    pool, replica, len(tried), method, endpoint, body, request_id
                )
            except AttemptFailed as failure:
                logger.warning(
                    "call failed: %s", failure.detail, extra={"model": pool.name, "replica": replica.base_url}
                )
                last = failure
                if not failure.retryable:
                    raise failure.client_error(pool.name) from failure
                continue
            if status >= 500:
                last, last_5xx = AttemptFailed(FailureKind.STATUS, f"answered {status}"), (status, content)
                continue
            return status, content
        if last_5xx is not None and last is not None and last.kind is FailureKind.STATUS:
            return last_5xx
        if last is not None:
            raise last.client_error(pool.name)
        return None

    async def _traced_attempt(
        self,
        pool: ModelPool,
        replica: Replica,
        number: int,
        method: str,
        endpoint: str,
        body: bytes,
        request_id: str,
    ) -> tuple[int, bytes]:
        """One attempt in its own client span (a do-nothing one when tracing is off)."""
        tracer = self._tracer
        if not tracer.enabled:
            return await self._attempt(pool, replica, method, endpoint, body, request_id)
        operation = semconv.OPERATION_BY_PATH.get(endpoint, endpoint)
        name = semconv.span_name(operation, replica.served_model)
        attributes = attempt_attributes(pool, replica, number, operation, endpoint)
        with tracer.span(name, attributes, kind=SpanKind.CLIENT) as span:
            try:
                status, content = await self._attempt(pool, replica, method, endpoint, body, request_id)
            except AttemptFailed as failure:
                span.set_attribute(semconv.ERROR_TYPE, failure.kind.value)
                raise
            span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)
            return status, content

    async def _attempt(
        self, pool: ModelPool, replica: Replica, method: str, endpoint: str, body: bytes, request_id: str
    ) -> tuple[int, bytes]:
        replica.begin()
        succeeded: bool | None = None  # None: no verdict for the breaker (pool exhausted, cancelled)
        headers = replica.request_headers if body else replica.headers
        url = replica.url(endpoint)
        sent = time.perf_counter()
        try:
            try:
                upstream = await self._client.request(
                    method,
                    url,
                    body,
                    headers,
                    self._deadlines[pool.name],
                    request_id=request_id,
                    trace_headers=self._tracer.headers(),  # the attempt span's traceparent; () when off
                )
            except PoolTimeout as exc:
                raise pool_exhausted(self._metrics, pool, replica, exc) from exc
            except UpstreamError as exc:
                succeeded = False
                raise replica_failure(exc, self._monitor, pool, replica) from exc
            replica.record_first_byte(time.perf_counter() - sent)
            try:
                content = await upstream.read()
            except UpstreamError as exc:
                succeeded = False
                raise classify(exc) from exc
            finally:
                upstream.release()
            succeeded = upstream.status < 500
            if succeeded:
                replica.note_success()
            return upstream.status, content
        finally:
            replica.end()
            if succeeded is None:
                replica.breaker.abandoned()
            elif succeeded:
                replica.breaker.succeeded()
            else:
                replica.breaker.failed()


@asynccontextmanager
async def open_model_calls(
    settings: CitadelSettings,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = time.monotonic,
    tracer: RequestTracer | None = None,
) -> AsyncIterator[ModelCalls]:
    """:class:`ModelCalls` with a directory, client and monitor of their own, for use outside the gateway's
    lifespan (scripts, tests); the replicas are probed when first needed."""
    gateway = settings.gateway
    metrics = GatewayMetrics(registry or CollectorRegistry())
    directory = ModelDirectory(settings.models, gateway, metrics, clock=clock)
    async with AsyncExitStack() as stack:
        client = open_client(gateway)
        stack.push_async_callback(client.aclose)
        monitor = HealthMonitor(
            directory, client, interval_s=gateway.health_interval_s, timeout_s=gateway.health_timeout_s
        )
        stack.push_async_callback(monitor.stop)
        yield ModelCalls(
            client, directory, monitor, metrics, max_attempts=gateway.max_attempts, tracer=tracer
        )
