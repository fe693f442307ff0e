"""Collections at start, sized to the embedding model; local mode's single owner; stable point ids."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from citadel.config import CitadelSettings, load_settings
from citadel.config.sections import SEED_COLLECTIONS
from citadel.errors import EmbeddingUnavailable, VectorStoreUnavailable
from citadel.gateway.model_calls import open_model_calls
from citadel.vectors import Vectors, VectorStore, open_vectors, unavailable_reason
from citadel.vectors.ids import text_point_id
from citadel.vectors.store import local_path
from tests.helpers import free_port
from tests.vectors.conftest import away_settings, opened_vectors, vector_settings


async def test_seed_collections_are_created_sized_to_the_embedding_model(
    tmp_path: Path, embedding_url: str
) -> None:
    settings = vector_settings(tmp_path, embedding_url, collections=list(SEED_COLLECTIONS))
    async with opened_vectors(settings) as vectors:
        assert vectors.dimensions == 384
        assert vectors.embedder.name == "all-minilm-l6-v2"
        sizes = await vectors.store.collection_sizes()
        assert sizes == dict.fromkeys(SEED_COLLECTIONS, 384)
        assert await vectors.store.ensure_collections(list(SEED_COLLECTIONS), 384) == []
    # Reopened while the embedding model is away: the collections' own size is used.
    away = away_settings(tmp_path, collections=list(SEED_COLLECTIONS))
    async with opened_vectors(away) as reopened:
        assert reopened.dimensions == 384
        with pytest.raises(EmbeddingUnavailable, match="unreachable"):
            await reopened.search("mixtral_embeddings", text="anything")


def test_the_embedded_default_has_the_seed_collections_under_data_dir(tmp_path: Path) -> None:
    settings = CitadelSettings(data_dir=str(tmp_path / "data"))
    assert settings.vectors.collections == list(SEED_COLLECTIONS)
    assert local_path(settings) == tmp_path / "data" / "vectors"
    assert local_path(CitadelSettings()) == Path("var/vectors")


async def test_a_size_mismatch_with_existing_collections_is_refused(
    tmp_path: Path, embedding_url: str
) -> None:
    settings = vector_settings(tmp_path, embedding_url)
    store = await VectorStore.open(settings)
    await store.ensure_collections(["docs"], 8)
    with pytest.raises(ValueError, match="another size"):
        await store.ensure_collections(["docs"], 384)
    await store.aclose()


_OPEN_IN_ANOTHER_PROCESS = """
import asyncio
from citadel.config import CitadelSettings
from citadel.errors import VectorStoreUnavailable
from citadel.vectors import VectorStore
try:
    asyncio.run(VectorStore.open(CitadelSettings()))
except VectorStoreUnavailable as exc:
    print(exc.code, exc.message)
"""


async def test_local_mode_has_one_owner(tmp_path: Path, embedding_url: str) -> None:
    settings = vector_settings(tmp_path, embedding_url)
    first = await VectorStore.open(settings)
    environment = {
        "CITADEL_DATA_DIR": str(tmp_path / "var"),
        "CITADEL_VECTORS__PATH": str(local_path(settings)),
    }
    other = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _OPEN_IN_ANOTHER_PROCESS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **environment},
    )
    assert other.stdout.startswith("vector_store_unavailable"), other.stdout + other.stderr
    assert "one gateway worker" in other.stdout
    await first.aclose()


def test_point_ids_are_the_same_in_another_process() -> None:
    code = "from citadel.vectors.ids import text_point_id; print(text_point_id('stable across processes'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == text_point_id("stable across processes")
    assert text_point_id("a") != text_point_id("b")


def test_config_names_must_resolve() -> None:
    with pytest.raises(ValidationError, match=r"vectors\.embedding_model: 'nope'"):
        CitadelSettings(vectors={"embedding_model": "nope"})
    with pytest.raises(ValidationError, match=r"vectors.retrieval\[m\].collection: 'elsewhere'"):
        CitadelSettings(vectors={"retrieval": {"m": {"collection": "elsewhere"}}})
    with pytest.raises(ValidationError, match="collection names"):
        CitadelSettings(vectors={"collections": ["bad name"]})
    for shipped in ("config/citadel.yaml", "config/hxp-enterprise.yaml"):
        settings = load_settings(Path(__file__).parents[2] / shipped)
        assert settings.cache.ttl_s == 3600
        assert len(settings.vectors.collections) == 9


async def test_an_unreachable_qdrant_server_is_503(tmp_path: Path, embedding_url: str) -> None:
    settings = vector_settings(tmp_path, embedding_url, url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    async with open_model_calls(settings) as calls:
        with pytest.raises(VectorStoreUnavailable) as raised:
            await Vectors.open(settings, transport=calls)
    assert raised.value.status_code == 503
    assert raised.value.code == "vector_store_unavailable"


async def test_vectors_stay_off_where_they_cannot_work(tmp_path: Path, embedding_url: str) -> None:
    assert unavailable_reason(CitadelSettings()) is not None  # no embedding model configured
    async with open_model_calls(CitadelSettings()) as calls:
        assert await open_vectors(CitadelSettings(), calls) is None
    settings = vector_settings(tmp_path, embedding_url)
    assert unavailable_reason(settings) is None
    several = settings.model_copy(update={"gateway": settings.gateway.model_copy(update={"workers": 2})})
    assert "one owner" in (unavailable_reason(several) or "")
    hxp = load_settings(Path(__file__).parents[2] / "config/hxp-enterprise.yaml")
    assert unavailable_reason(hxp) is None  # the blueprint's deployment names its embedding model
    assert hxp.vectors.embedding_model == "all-minilm-l6-v2"
    assert len(hxp.vectors.collections) == 9
    async with open_model_calls(settings) as calls:
        opened = await open_vectors(settings, calls)
        assert opened is not None
        await opened.aclose()
