"""``POST /admin/cache/clear`` behind the caller's guard, and ``citadel cache clear``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import httpx
import yaml
from click.testing import CliRunner
from fastapi import Depends, FastAPI, Header, Request

from citadel.cache import CachedResponse, ResponseCache
from citadel.cache.admin_routes import cache_admin_router
from citadel.cli.main import cli
from citadel.errors import AuthenticationError, install_error_handlers
from tests.cache.conftest import cache_settings
from tests.governance.servers import RedisServer
from tests.helpers import free_port

CHAT = "/v1/chat/completions"


async def _require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
    if authorization != "Bearer admin":
        raise AuthenticationError("admin only")


async def _fill(cache: ResponseCache, models: list[str]) -> None:
    for model in models:
        plan = cache.plan(CHAT, {"model": model, "messages": [], "temperature": 0})
        assert plan is not None
        await cache.put(plan, CachedResponse(200, "application/json", body=b"{}"))


async def test_admin_route_clears_behind_the_guard(tmp_path: Path) -> None:
    cache = await ResponseCache.open(cache_settings(tmp_path))
    await _fill(cache, ["a", "b"])
    app = FastAPI()
    install_error_handlers(app)

    def cache_of(request: Request) -> ResponseCache:  # typed: FastAPI takes an untyped name for a query
        return cache

    app.include_router(cache_admin_router(cache_of, dependencies=[Depends(_require_admin)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        refused = await client.post("/admin/cache/clear")
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        admin = {"authorization": "Bearer admin"}
        one = await client.post("/admin/cache/clear", json={"model": "a"}, headers=admin)
        assert one.status_code == 200
        assert one.json() == {"object": "cache.clear", "model": "a", "cleared": 1, "backend": "memory"}
        rest = await client.post("/admin/cache/clear", headers=admin)
        assert rest.json()["cleared"] == 1
    await cache.aclose()


def _config(tmp_path: Path, redis_url: str | None) -> Path:
    path = tmp_path / "citadel.yaml"
    data = {"data_dir": str(tmp_path / "var"), "gateway": {"port": free_port()}, "redis": {"url": redis_url}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_cli_clears_redis(cache_redis: RedisServer, tmp_path: Path) -> None:
    settings = cache_settings(tmp_path, cache_redis.url)

    async def fill() -> None:
        cache = await ResponseCache.open(settings)
        await cache.clear()
        await _fill(cache, ["cli-a", "cli-b"])
        await cache.aclose()

    async def left() -> int:
        cache = await ResponseCache.open(settings)
        remaining = await cache.clear()
        await cache.aclose()
        return remaining

    asyncio.run(fill())
    config = _config(tmp_path, cache_redis.url)
    result = CliRunner().invoke(cli, ["cache", "clear", "--config", str(config), "--model", "cli-a"])
    assert result.exit_code == 0, result.output
    assert "cleared 1 cached answer(s) of model cli-a from redis" in result.output
    assert asyncio.run(left()) == 1


def test_cli_without_redis_explains_that_the_cache_lives_in_the_gateway(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cache", "clear", "--config", str(_config(tmp_path, None))])
    assert result.exit_code == 1
    assert "in-process" in result.output
    assert "/admin/cache/clear" in result.output
