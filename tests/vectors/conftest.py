"""Fixtures: Qdrant local mode in a temporary folder, texts embedded by the real embedding model service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from citadel.config import CitadelSettings
from citadel.errors import install_error_handlers
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


@pytest.fixture
async def vectors(tmp_path: Path, embedding_url: str) -> AsyncIterator[Vectors]:
    opened = await Vectors.open(vector_settings(tmp_path, embedding_url))
    yield opened
    await opened.aclose()


@pytest.fixture
async def client(vectors: Vectors) -> AsyncIterator[httpx.AsyncClient]:
    """The vector API on an app shaped like the gateway's (its error table, ``app.state.vectors``)."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.vectors = vectors
    app.include_router(vectors_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as api:
        yield api
