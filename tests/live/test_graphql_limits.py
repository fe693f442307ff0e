"""GraphQL's switches in-process: a depth limit below the query's, introspection off (both 400s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

pytestmark = pytest.mark.timeout(60)

ADMIN_KEY = "admin-key-for-graphql-limits"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = write_config(
        tmp_path,
        {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model("m1", f"http://127.0.0.1:{free_port()}")],
            "auth": {"enabled": True, "admin_key": ADMIN_KEY},
            "live": {"graphql": {"max_depth": 1, "introspection": False}},
        },
    )
    app = create_gateway_app(load_settings(config))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=headers) as client:
            yield client


async def test_a_query_deeper_than_max_depth_is_a_400(client: httpx.AsyncClient) -> None:
    shallow = await client.post("/graphql", json={"query": "{ models { id status } }"})
    assert shallow.status_code == 200
    assert shallow.json()["data"]["models"][0]["id"] == "m1"
    deep = await client.post("/graphql", json={"query": "{ models { replicas { url } } }"})
    assert deep.status_code == 400
    assert "exceeds maximum operation depth of 1" in deep.json()["errors"][0]["message"]


async def test_introspection_switched_off_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert response.status_code == 400
    assert "introspection" in response.json()["errors"][0]["message"].lower()
    metrics = (await client.get("/metrics")).text
    assert 'citadel_graphql_operations_total{result="error",type="query"}' in metrics
