"""Rate limits are one count across gateway workers: two uvicorn workers behind one port, sharing Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.governance.servers import RedisServer
from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config

ADMIN = "test-admin-key-0d9c8b7a6f5e4d3c"
LIMIT = 8


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = RedisServer()
    yield server.url
    server.close()


async def test_two_workers_admit_exactly_the_tier_limit(
    tmp_path: Path, model_url: str, redis_url: str
) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        {
            "gateway": {"port": port, "workers": 2, "health_interval_s": 3600},
            "models": [smollm2_model(int(model_url.rsplit(":", 1)[1]))],
            "auth": {"enabled": True, "admin_key": ADMIN},
            "redis": {"url": redis_url},
            "rate_limits": {
                "tiers": {"default": {"requests_per_minute": 1000}, "tiny": {"requests_per_minute": LIMIT}},
                # Exactness is the point here, not timeouts: the model service generating on both cores
                # may hold a worker's loop past the default 0.25 s, and fail-open would then admit more.
                "redis_timeout_s": 5.0,
            },
        },
    )
    gateway = ServiceProcess(
        ["gateway", "--config", str(config)], f"http://127.0.0.1:{port}/health", log=tmp_path / "gateway.log"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as admin:
            created = await admin.post(
                "/admin/keys",
                json={"name": "shared", "tier": "tiny"},
                headers={"authorization": f"Bearer {ADMIN}"},
            )
        assert created.status_code == 201, created.text
        headers = {"authorization": f"Bearer {created.json()['secret']}"}
        body = {"model": SMOLLM2_NAME, "prompt": "Hi", "max_tokens": 1}

        async def one() -> int:
            # A fresh connection each, so that both workers take some of them.
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                return (await client.post("/v1/completions", json=body, headers=headers)).status_code

        statuses = await asyncio.gather(*(one() for _ in range(3 * LIMIT)))
    finally:
        gateway.stop()
    log = (tmp_path / "gateway.log").read_text(encoding="utf-8")
    assert log.count("Started server process") == 2  # two workers did serve
    assert "rate limiter unreachable" not in log
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == 2 * LIMIT
