"""Health probes and embedding calls take the road of every call to a model: the model directory and the one
upstream client (balancing, health, breakers, retries, request ids, metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from yarl import URL

from citadel.config import CitadelSettings
from citadel.errors import EmbeddingUnavailable
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.health import HealthMonitor
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.model_calls import open_model_calls
from citadel.gateway.request_id import current_request_id
from citadel.gateway.upstream_errors import Deadlines
from citadel.gateway.upstream_pool import UpstreamClient
from citadel.vectors import ServiceEmbedder
from tests.gateway.harness import remote_model
from tests.helpers import free_port


@dataclass
class Replica:
    """A replica that records what reached it; ``healthy`` and ``embed_status`` script its answers."""

    healthy: bool = True
    embed_status: int = 200
    probe_ids: list[str] = field(default_factory=list)
    embed_ids: list[str] = field(default_factory=list)
    hold_embeddings: asyncio.Event | None = None  # embeddings wait for it (to keep a connection busy)
    embedding_arrived: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def serve(replica: Replica, *, port: int | None = None) -> AsyncIterator[str]:
    async def health(request: web.Request) -> web.Response:
        replica.probe_ids.append(request.headers.get("x-request-id", ""))
        return web.json_response(
            {"status": "ok" if replica.healthy else "down"}, status=200 if replica.healthy else 503
        )

    async def embeddings(request: web.Request) -> web.Response:
        replica.embed_ids.append(request.headers.get("x-request-id", ""))
        replica.embedding_arrived.set()
        if replica.hold_embeddings is not None:
            await replica.hold_embeddings.wait()
        if replica.embed_status != 200:
            return web.json_response({"error": {"message": "boom"}}, status=replica.embed_status)
        body = await request.json()
        data = [{"index": i, "embedding": [0.6, 0.8]} for i, _ in enumerate(body["input"])]
        return web.json_response({"object": "list", "data": data})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/embeddings", embeddings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _settings(*urls: str, **gateway: Any) -> CitadelSettings:
    return CitadelSettings(
        gateway={"port": free_port(), "health_interval_s": 3600, **gateway},
        models=[remote_model("emb", *urls)],
    )


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_an_embed_call_skips_a_down_replica_and_is_retried_on_another() -> None:
    down, failing, good = Replica(healthy=False), Replica(embed_status=500), Replica()
    registry = CollectorRegistry()
    async with serve(down) as down_url, serve(failing) as failing_url, serve(good) as good_url:
        settings = _settings(down_url, failing_url, good_url)
        async with open_model_calls(settings, registry=registry) as calls:
            embedder = ServiceEmbedder("emb", calls)
            token = current_request_id.set("client-request-7")
            try:
                for _ in range(4):  # the balancer takes turns: the failing replica comes first at least once
                    assert await embedder.embed(["hello"]) == [[0.6, 0.8]]
            finally:
                current_request_id.reset(token)
            assert await embedder.embed(["no request under way"]) == [[0.6, 0.8]]
    assert down.probe_ids  # probed (the replicas were unknown), found down ...
    assert down.embed_ids == []  # ... and never sent an embedding call
    assert failing.embed_ids  # tried, answered 500, and the call went on to the good replica
    assert len(good.embed_ids) == 5
    # The request under way's id went to every replica the call tried; without one, a fresh id.
    assert set(failing.embed_ids + good.embed_ids[:4]) == {"client-request-7"}
    assert good.embed_ids[4] not in ("", "client-request-7")
    assert _sample(registry, "llm_retries_total", model="emb", reason="status_5xx") == len(failing.embed_ids)
    assert _sample(registry, "llm_retries_total", model="emb", reason="connect") == 0
    latency = "llm_upstream_latency_seconds_count"
    assert _sample(registry, latency, model="emb", replica=good_url) == 5
    assert _sample(registry, latency, model="emb", replica=failing_url) == len(failing.embed_ids)
    assert _sample(registry, latency, model="emb", replica=down_url) == 0


async def test_an_embed_call_is_retried_after_a_refused_connection_which_marks_the_replica_down() -> None:
    leaving, good = Replica(), Replica()
    registry = CollectorRegistry()
    port = free_port()
    leaving_url = f"http://127.0.0.1:{port}"
    async with (
        serve(good) as good_url,
        open_model_calls(_settings(leaving_url, good_url), registry=registry) as calls,
    ):
        embedder = ServiceEmbedder("emb", calls)
        async with serve(leaving, port=port):
            assert await embedder.embed(["both up"]) == [[0.6, 0.8]]
        # The replica's service is gone; the directory still thinks it healthy until a call is refused.
        for _ in range(3):
            assert await embedder.embed(["hello"]) == [[0.6, 0.8]]
    assert _sample(registry, "llm_retries_total", model="emb", reason="connect") == 1
    assert _sample(registry, "llm_replica_health", model="emb", replica=leaving_url) == 0
    assert _sample(registry, "llm_replica_health", model="emb", replica=good_url) == 1


async def test_no_replica_answering_is_embedding_unavailable() -> None:
    down = Replica(healthy=False)
    async with serve(down) as url, open_model_calls(_settings(url)) as calls:
        with pytest.raises(EmbeddingUnavailable, match="no healthy replica"):
            await ServiceEmbedder("emb", calls).embed(["hello"])
    assert down.embed_ids == []


async def test_probes_use_the_upstream_client_with_request_ids() -> None:
    replica = Replica()
    async with serve(replica) as url:
        settings = _settings(url)
        metrics = GatewayMetrics(CollectorRegistry())
        directory = ModelDirectory(settings.models, settings.gateway, metrics, clock=lambda: 0.0)
        client = UpstreamClient(max_connections=4)
        monitor = HealthMonitor(directory, client, interval_s=3600, timeout_s=2)
        await monitor.probe_all()
        await monitor.probe_all()
        assert directory.resolve("emb").healthy
        assert client.open_to(URL(url)) == 1  # the probes' keep-alive connection, in the one client's pool
        assert len(replica.probe_ids) == 2
        assert all(replica.probe_ids)
        assert len(set(replica.probe_ids)) == 2  # each probe its own id
        replica.healthy = False
        await monitor.probe_all()  # a replica's first observation decided; now it takes the threshold
        for _ in range(settings.gateway.health_failure_threshold):
            await monitor.probe_all()
        assert not directory.resolve("emb").healthy
        await monitor.stop()
        await client.aclose()


async def test_a_probe_that_finds_the_pool_busy_decides_nothing() -> None:
    replica = Replica(hold_embeddings=asyncio.Event())
    async with serve(replica) as url:
        settings = _settings(url, health_failure_threshold=1)
        metrics = GatewayMetrics(CollectorRegistry())
        directory = ModelDirectory(settings.models, settings.gateway, metrics, clock=lambda: 0.0)
        client = UpstreamClient(max_connections=4, max_per_origin=1)
        monitor = HealthMonitor(directory, client, interval_s=3600, timeout_s=0.3)
        await monitor.probe_all()
        assert directory.resolve("emb").healthy
        deadlines = Deadlines(total_s=30, connect_s=5, read_s=30)
        busy = asyncio.create_task(
            client.post(
                URL(url + "/v1/embeddings"),
                b'{"input": ["x"]}',
                {"content-type": "application/json"},
                deadlines,
            )
        )
        await replica.embedding_arrived.wait()  # the only connection allowed to the replica is now taken
        replica.healthy = False
        await monitor.probe_all()  # no connection free within the probe's timeout: nothing learnt
        assert directory.resolve("emb").healthy
        assert len(replica.probe_ids) == 1
        replica.hold_embeddings.set()  # type: ignore[union-attr]
        answer = await busy
        await answer.read()
        answer.release()
        await monitor.probe_all()  # the connection is free again: the probe gets through and decides
        assert not directory.resolve("emb").healthy
        assert len(replica.probe_ids) == 2
        await monitor.stop()
        await client.aclose()
