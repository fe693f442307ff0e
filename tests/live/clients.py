"""Small clients for the live tests: GraphQL over HTTP, a reader that never reads, polling a metric."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx

from tests.gateway.harness import metric
from tests.live.gateway_process import ADMIN_KEY, LiveGateway


def graphql(
    gateway: LiveGateway, query: str, variables: dict[str, Any] | None = None, *, key: str = ADMIN_KEY
) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )


def logged(gateway: LiveGateway, request_id: str, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """The request-log row of ``request_id`` once the writer has flushed it (read through GraphQL)."""
    query = (
        "{ requestMetrics(limit: 200) { requests { requestId transport statusCode endpoint errorType } } }"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = graphql(gateway, query).json()["data"]["requestMetrics"]["requests"]
        for row in rows:
            if row["requestId"] == request_id:
                found: dict[str, Any] = row
                return found
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} not in the request log after {timeout_s} s")


def tiny_socket(port: int) -> socket.socket:
    """A connected socket that takes in little: with nobody reading it, the server's sends back up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def wait_for_metric(
    gateway: LiveGateway, name: str, at_least: float, timeout_s: float, **labels: str
) -> float:
    deadline = time.monotonic() + timeout_s
    value = 0.0
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            value = metric((await client.get(f"{gateway.base_url}/metrics")).text, name, **labels)
            if value >= at_least:
                return value
            await asyncio.sleep(0.2)
    raise AssertionError(f"{name}{labels} stayed at {value} (< {at_least}) for {timeout_s} s")
