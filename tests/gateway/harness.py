"""The gateway in-process behind an ASGI client, built from a config written for the test."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.breaker import Clock
from tests.helpers import free_port, write_config


def remote_model(name: str, *urls: str, **overrides: Any) -> dict[str, Any]:
    """A model whose replicas are the given OpenAI-compatible URLs."""
    model: dict[str, Any] = {
        "name": name,
        "backend": "remote",
        "url": urls[0],
        "replicas": [{"url": url} for url in urls],
    }
    model.update(overrides)
    return model


@asynccontextmanager
async def gateway_client(
    tmp_path: Path, models: list[dict[str, Any]], *, clock: Clock = time.monotonic, **gateway: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_app(tmp_path, models, clock=clock, **gateway) as (_, client):
        yield client


@asynccontextmanager
async def gateway_app(
    tmp_path: Path, models: list[dict[str, Any]], *, clock: Clock = time.monotonic, **gateway: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The gateway app, its lifespan entered, and a client calling it in-process."""
    settings = {"port": free_port(), "health_interval_s": 3600, **gateway}
    config = write_config(tmp_path, {"gateway": settings, "models": models})
    app = create_gateway_app(load_settings(config), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client:
            yield app, client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(4))
    return 0.0


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
