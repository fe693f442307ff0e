"""The gateway's services: the lifespan builds them into one typed value on ``app.state.services`` and closes,
on its way out, every client and background task it opened for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.datastructures import State

from citadel.cache.semantic import SemanticCache
from citadel.cache.service import ResponseCache
from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.health import HealthMonitor
from citadel.gateway.services import GatewayServices, services_of
from citadel.gateway.upstream_pool import UpstreamClient
from citadel.governance import Governance
from citadel.vectors import Vectors
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The objects whose close (``aclose``, or ``stop`` for the health monitor) ran, in order."""
    seen: list[object] = []
    for cls, name in [
        (UpstreamClient, "aclose"),
        (HealthMonitor, "stop"),
        (Governance, "aclose"),
        (ResponseCache, "aclose"),
        (Vectors, "aclose"),
    ]:
        original = getattr(cls, name)

        async def recording(self: object, _original: object = original) -> None:
            seen.append(self)
            await _original(self)  # type: ignore[operator]

        monkeypatch.setattr(cls, name, recording)
    return seen


async def test_the_lifespan_builds_the_services_and_closes_what_it_opened(
    tmp_path: Path, closed: list[object]
) -> None:
    async with fake_upstream(Script()) as url:
        config = write_config(
            tmp_path,
            {
                "gateway": {"port": free_port(), "health_interval_s": 3600},
                "models": [remote_model("chat", url), remote_model("emb", url)],
                "vectors": {
                    "embedding_model": "emb",
                    "dimensions": 2,  # the fake upstream has no /v1/models to ask
                    "path": str(tmp_path / "vectors"),
                    "collections": ["docs"],
                },
                "cache": {"semantic": {"enabled": True}},
            },
        )
        settings = load_settings(config)
        app = create_gateway_app(settings)
        with pytest.raises(RuntimeError, match="lifespan"):
            services_of(app.state)  # nothing before the lifespan runs
        async with app.router.lifespan_context(app):
            services = services_of(app.state)
            assert isinstance(services, GatewayServices)
            assert services.settings is settings
            assert [pool.name for pool in services.directory.pools()] == ["chat", "emb"]
            assert isinstance(services.vectors, Vectors)
            assert isinstance(services.semantic_cache, SemanticCache)
            assert services.forwarder._client is services.client  # one upstream client for every call
            assert services.model_calls._client is services.client
            assert closed == []
        opened = [services.client, services.monitor, services.governance, services.response_cache]
        assert sorted(map(id, closed)) == sorted(map(id, [*opened, services.vectors]))
        assert not services.client._open


def test_services_of_refuses_a_state_without_them() -> None:
    state = State()
    state.services = object()
    with pytest.raises(RuntimeError, match="lifespan"):
        services_of(state)
