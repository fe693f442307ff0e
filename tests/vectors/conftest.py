"""Fixtures: Qdrant local mode in a temporary folder, texts embedded by the real embedding model service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request

from citadel.config import CitadelSettings
from citadel.errors import install_error_handlers
from citadel.gateway.model_calls import open_model_calls
from citadel.vectors import Vectors
from citadel.vectors.routes import vectors_router
from tests.helpers import free_port, minilm_model

COLLECTIONS = ["docs", "notes"]


def vector_settings(tmp_path: Path, embedding_url: str, **vectors: Any) -> CitadelSettings:
    """The embedding model at ``embedding_url`` and a local vector store under ``tmp_path``."""
    port = urlsplit(embedding_url).port
    assert port is not None
    data: dict[str, Any] = {"path": str(tmp_path / "vectors"), "collections": COLLECTIONS, **vectors}
    return CitadelSettings(
        data_dir=str(tmp_path / "var"),
        gateway={"port": free_port()},
        models=[minilm_model(port)],
        vectors=data,
    )


@asynccontextmanager
async def opened_vectors(settings: CitadelSettings, **options: Any) -> AsyncIterator[Vectors]:
    """``Vectors`` embedding through the model directory and the upstream client, as in the gateway."""
    async with open_model_calls(settings) as calls:
        opened = await Vectors.open(settings, transport=calls, **options)
        try:
            yield opened
        finally:
            await opened.aclose()


def away_settings(tmp_path: Path, **vectors: Any) -> CitadelSettings:
    """As :func:`vector_settings` (the same store), with the embedding model at a port nothing listens on."""
    return vector_settings(tmp_path, f"http://127.0.0.1:{free_port()}", **vectors)


@pytest.fixture
async def vectors(tmp_path: Path, embedding_url: str) -> AsyncIterator[Vectors]:
    async with opened_vectors(vector_settings(tmp_path, embedding_url)) as opened:
        yield opened


@pytest.fixture
async def client(vectors: Vectors) -> AsyncIterator[httpx.AsyncClient]:
    """The vector API on an app shaped like the gateway's (its error table), serving ``vectors``."""
    app = FastAPI()
    install_error_handlers(app)

    def vectors_of(request: Request) -> Vectors:  # typed: FastAPI takes an untyped name for a query
        return vectors

    app.include_router(vectors_router(vectors_of))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as api:
        yield api
