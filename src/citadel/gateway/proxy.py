"""Forwarding one OpenAI request to a model service, streaming the answer back as it comes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.responses import Response, StreamingResponse

from citadel.errors import InvalidRequest, UpstreamTimeout, UpstreamUnreachable
from citadel.gateway.directory import ModelRoute
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

# Response headers of the upstream that the client should see; hop-by-hop ones are the server's business.
_PASSED_HEADERS = ("content-type", "cache-control", "retry-after")
_TAIL_BYTES = 4096  # enough to hold the final usage chunk of an SSE stream


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """The client's body, parsed once; ``raw`` is forwarded unchanged."""

    raw: bytes
    model: str
    stream: bool


def parse_request(raw: bytes) -> ParsedRequest:
    """Validate just what routing needs; the model service validates the rest."""
    try:
        body: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("`model` is required and must be a string.", param="model")
    return ParsedRequest(raw=raw, model=model, stream=body.get("stream") is True)


class Proxy:
    """Sends requests to model services through one pooled client, keeping health and metrics current."""

    def __init__(self, client: httpx.AsyncClient, monitor: HealthMonitor, metrics: GatewayMetrics) -> None:
        self._client = client
        self._monitor = monitor
        self._metrics = metrics

    async def forward(self, route: ModelRoute, endpoint: str, request: ParsedRequest) -> Response:
        """The model service's answer to ``request`` on ``endpoint`` (e.g. ``/v1/chat/completions``)."""
        started = time.perf_counter()
        active = self._metrics.active.labels(route.name)
        active.inc()
        try:
            upstream = await self._send(route, endpoint, request)
        except BaseException:
            active.dec()
            self._finish(route, endpoint, "error", started)
            raise
        status = "success" if upstream.status_code < 400 else "error"
        if request.stream and upstream.status_code == 200:
            return StreamingResponse(
                self._relay(upstream, route, endpoint, started),
                status_code=upstream.status_code,
                headers=_passed_headers(upstream),
            )
        try:
            content = await upstream.aread()
        finally:
            await upstream.aclose()
            active.dec()
        if upstream.status_code == 200:
            self._record_usage(route, content)
        self._finish(route, endpoint, status, started)
        return Response(content, status_code=upstream.status_code, headers=_passed_headers(upstream))

    async def _send(self, route: ModelRoute, endpoint: str, request: ParsedRequest) -> httpx.Response:
        upstream_request = self._client.build_request(
            "POST",
            f"{route.base_url}{endpoint}",
            content=request.raw,
            headers={"content-type": "application/json", "accept": "application/json, text/event-stream"},
        )
        try:
            return await self._client.send(upstream_request, stream=True)
        except httpx.ConnectError as exc:
            self._monitor.observe(route, False, "connection refused")
            raise UpstreamUnreachable(f"The model `{route.name}` is unreachable.") from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The model `{route.name}` did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(f"The model `{route.name}` failed: {type(exc).__name__}.") from exc

    async def _relay(
        self, upstream: httpx.Response, route: ModelRoute, endpoint: str, started: float
    ) -> AsyncIterator[bytes]:
        """Pass SSE bytes through as they arrive; remember the tail to read the usage chunk."""
        tail = b""
        status = "error"
        try:
            async for chunk in upstream.aiter_raw():
                tail = (tail + chunk)[-_TAIL_BYTES:]
                yield chunk
            status = "success"
        except httpx.HTTPError as exc:
            logger.warning("stream from %s broke: %s", route.name, type(exc).__name__)
        finally:
            await upstream.aclose()
            self._metrics.active.labels(route.name).dec()
            self._finish(route, endpoint, status, started)
            self._record_usage(route, _last_usage_event(tail))

    def _finish(self, route: ModelRoute, endpoint: str, status: str, started: float) -> None:
        self._metrics.requests.labels(route.name, endpoint, status).inc()
        self._metrics.duration.labels(route.name, endpoint).observe(time.perf_counter() - started)

    def _record_usage(self, route: ModelRoute, content: bytes) -> None:
        try:
            body = json.loads(content) if content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if isinstance(body, dict) and isinstance(body.get("usage"), dict):
            self._metrics.record_usage(route.name, body["usage"])


def _passed_headers(upstream: httpx.Response) -> dict[str, str]:
    return {name: upstream.headers[name] for name in _PASSED_HEADERS if name in upstream.headers}


def _last_usage_event(tail: bytes) -> bytes:
    """The JSON of the last SSE event that carries a ``usage`` object, or nothing."""
    for line in reversed(tail.split(b"\n")):
        if line.startswith(b"data: {") and b'"usage":{' in line:
            return line.removeprefix(b"data: ")
    return b""


__all__ = ["ParsedRequest", "Proxy", "parse_request"]
