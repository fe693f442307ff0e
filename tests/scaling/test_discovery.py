"""Discovery through Debian's etcd: SmolLM2 model services register themselves; the gateway watches.

A service that only etcd knows of joins its model's pool; while etcd is down the gateway keeps its last
known replicas and says so (``/health``, ``citadel_discovery_connected``); a service killed is routed
around at once and leaves the pool when its lease expires; a service started later joins without any
config edit.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.config import load_settings
from citadel.discovery.registration import Registration
from citadel.gateway.app import create_gateway_app
from citadel.gateway.services import services_of
from citadel.reload.live import rebuild_services
from tests.gateway.harness import metric
from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config
from tests.scaling.etcd_server import EtcdServer, etcd_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not etcd_available(), reason="etcd not installed: scripts/bootstrap.sh --dev"),
]

TTL_S = 3


@pytest.fixture
def etcd() -> Iterator[EtcdServer]:
    server = EtcdServer()
    yield server
    server.close()


def _discovery(etcd: EtcdServer) -> dict[str, Any]:
    return {"backend": "etcd", "endpoints": [etcd.url], "lease_ttl_s": TTL_S, "retry_interval_s": 0.3}


def _service(directory: Path, name: str, port: int, etcd: EtcdServer) -> ServiceProcess:
    config = write_config(
        directory,
        {
            "data_dir": str(directory / name),
            "gateway": {"port": free_port()},
            "models": [smollm2_model(port, threads=1)],
            "discovery": _discovery(etcd),
        },
        name=f"{name}.yaml",
    )
    return ServiceProcess(
        ["serve-model", SMOLLM2_NAME, "--config", str(config)],
        f"http://127.0.0.1:{port}/health",
        log=directory / f"{name}.log",
        timeout_s=120,
    )


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> float:
    """Seconds until ``check`` holds."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def test_registration_round_trip_and_refusals() -> None:
    entry = Registration("m", "http://10.1.2.3:11400", capacity=4, version="0.1.0")
    assert Registration.decode(entry.encode()) == entry
    assert entry.key("/citadel/replicas/") == "/citadel/replicas/m/10.1.2.3:11400"
    for bad in (b"not json", b'{"url": "http://h:1"}', b'{"model": "m", "url": "ftp://h:1"}'):
        with pytest.raises(ValueError, match="registration"):
            Registration.decode(bad)


async def test_services_join_and_leave_through_etcd(tmp_path: Path, etcd: EtcdServer) -> None:
    ports = {name: free_port() for name in ("a", "b", "c")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    services: dict[str, ServiceProcess] = {}
    try:
        # In threads: the gateway's watcher runs on this event loop meanwhile.
        services["a"] = await asyncio.to_thread(_service, tmp_path, "a", ports["a"], etcd)
        services["b"] = await asyncio.to_thread(_service, tmp_path, "b", ports["b"], etcd)
        config = write_config(
            tmp_path,
            {
                "gateway": {"port": free_port(), "health_interval_s": 3600},
                # Only a is configured; b and c are found in etcd.
                "models": [smollm2_model(ports["a"], threads=1)],
                "discovery": _discovery(etcd),
            },
            name="gateway.yaml",
        )
        app = create_gateway_app(load_settings(config))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=120) as client:

                async def health() -> dict[str, Any]:
                    body: dict[str, Any] = (await client.get("/health")).json()
                    return body

                async def replicas() -> set[str]:
                    return {r["url"] for r in (await health())["models"][SMOLLM2_NAME]["replicas"]}

                async def connected() -> bool:
                    return bool((await health())["discovery"]["connected"])

                async def completion() -> int:
                    body = {"model": SMOLLM2_NAME, "prompt": "Hi", "max_tokens": 2}
                    return (await client.post("/v1/completions", json=body)).status_code

                async def has(*names: str) -> bool:
                    return await replicas() == {url[name] for name in names}

                await _until("b joins", lambda: has("a", "b"))
                assert await connected()

                # A hot reload builds a new directory: the replicas found in etcd are in it at once.
                reloaded = await rebuild_services(
                    services_of(app.state), load_settings(config), clock=time.monotonic
                )
                await services_of(app.state).monitor.stop()
                app.state.services = reloaded
                assert await has("a", "b")

                # etcd down: the last known replicas stay, and the gateway says it is cut off.
                await asyncio.to_thread(etcd.stop)
                await _until("the gateway notices", lambda: _not(connected))
                status = (await health())["discovery"]
                assert status["error"]
                assert status["disconnected_since"] is not None
                text = (await client.get("/metrics")).text
                assert metric(text, "citadel_discovery_connected") == 0
                await asyncio.sleep(TTL_S + 1)  # longer than a lease: nothing is dropped for etcd's absence
                assert await has("a", "b")
                assert await completion() == 200
                await asyncio.to_thread(etcd.start)
                await _until("reconnected", connected)
                assert metric((await client.get("/metrics")).text, "citadel_discovery_connected") == 1
                assert await has("a", "b")

                # b killed: routed around at once (refused connections), gone once its lease expires.
                await asyncio.to_thread(services["b"].kill)
                killed_at = time.monotonic()
                assert [await completion() for _ in range(4)] == [200] * 4
                await _until("b leaves", lambda: has("a"), timeout_s=TTL_S + 10)
                left_s = time.monotonic() - killed_at
                print(f"b left the pool {left_s:.1f} s after it was killed (ttl {TTL_S} s)")

                # c starts on another port: it joins with no config edit and takes traffic when a is gone.
                services["c"] = await asyncio.to_thread(_service, tmp_path, "c", ports["c"], etcd)
                await _until("c joins", lambda: has("a", "c"))
                # a's own registration counts too (its URL is the configured replica's: not added twice).
                assert metric((await client.get("/metrics")).text, "citadel_discovery_registrations") == 2
                await asyncio.to_thread(services["a"].kill)
                assert [await completion() for _ in range(3)] == [200] * 3

            # A clean stop revokes the lease: the entry is gone at once, not after the TTL.
            await asyncio.to_thread(services["c"].stop)
            async with httpx.AsyncClient(timeout=5) as raw:
                answer = await raw.post(
                    f"{etcd.url}/v3/kv/range",
                    json={"key": "L2NpdGFkZWwvcmVwbGljYXMv", "range_end": "L2NpdGFkZWwvcmVwbGljYXMw"},
                )
            keys = {base64.b64decode(kv["key"]).decode() for kv in answer.json().get("kvs", [])}
            assert f"/citadel/replicas/{SMOLLM2_NAME}/127.0.0.1:{ports['c']}" not in keys
            assert keys <= {f"/citadel/replicas/{SMOLLM2_NAME}/127.0.0.1:{ports['a']}"}  # a's lease not over
    finally:
        for service in services.values():
            await asyncio.to_thread(service.stop)


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()
