"""The embedding model service over a real socket: all-MiniLM-L6-v2 behind OpenAI's /v1/embeddings."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.helpers import MINILM_NAME


def embed(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json={"model": MINILM_NAME, **body}, timeout=60)


def vectors(url: str, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    data = embed(url, {"input": texts}).json()["data"]
    assert [item["index"] for item in data] == list(range(len(texts)))
    return np.array([item["embedding"] for item in data])


def cosine(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_paraphrases_are_closer_than_unrelated_sentences(embedding_url: str) -> None:
    cat, paraphrase, unrelated = vectors(
        embedding_url,
        [
            "The cat is sleeping on the sofa.",
            "A cat naps on the couch.",
            "Quarterly revenue grew by twelve percent.",
        ],
    )
    assert cat.shape == (384,)
    assert cosine(cat, paraphrase) > cosine(cat, unrelated) + 0.3


def test_string_input_and_usage(embedding_url: str) -> None:
    body = embed(embedding_url, {"input": "hello world"}).json()
    assert body["object"] == "list"
    assert body["model"] == MINILM_NAME
    assert len(body["data"]) == 1
    assert body["usage"]["prompt_tokens"] == 4  # [CLS] hello world [SEP]
    assert body["usage"]["total_tokens"] == 4


def test_same_text_alone_or_in_a_batch_gives_the_same_vector(embedding_url: str) -> None:
    alone = vectors(embedding_url, ["Shipping takes three days."])[0]
    batched = vectors(embedding_url, ["Something else entirely.", "Shipping takes three days."])[1]
    assert np.allclose(alone, batched, atol=1e-5)


def test_official_client_gets_base64_and_decodes_it(embedding_url: str) -> None:
    client = openai.OpenAI(base_url=f"{embedding_url}/v1", api_key="unused", max_retries=0)
    raw = client.embeddings.create(model=MINILM_NAME, input=["alpha"], encoding_format="base64")
    assert isinstance(raw.data[0].embedding, str)  # asked for explicitly, the client leaves it encoded
    result = client.embeddings.create(model=MINILM_NAME, input=["alpha", "beta"])  # base64 on the wire
    expected = vectors(embedding_url, ["alpha", "beta"])
    assert np.allclose(np.array([item.embedding for item in result.data]), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"input": "x", "dimensions": 128}, "dimensions", "always returns 384"),
        ({"input": ""}, "input", "empty"),
        ({"input": []}, "input", "empty"),
        ({"input": [101, 30522]}, "input", "outside the vocabulary"),
        ({"input": "word " * 400}, "input", "maximum is 256"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format", ""),
    ],
)
def test_bad_requests_are_openai_400s(
    embedding_url: str, body: dict[str, Any], param: str, fragment: str
) -> None:
    response = embed(embedding_url, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert fragment in error["message"]


def test_unknown_model_is_404(embedding_url: str) -> None:
    response = httpx.post(f"{embedding_url}/v1/embeddings", json={"model": "ada-9", "input": "x"})
    assert response.status_code == 404


async def test_concurrent_requests_are_encoded_together(embedding_url: str) -> None:
    async def batches(client: httpx.AsyncClient) -> tuple[float, float]:
        text = (await client.get("/metrics")).text
        values = {}
        for line in text.splitlines():
            for name in ("citadel:embedding_batch_size_count", "citadel:embedding_batch_size_sum"):
                if line.startswith(name + "{"):
                    values[name] = float(line.rsplit(" ", 1)[1])
        return values.get("citadel:embedding_batch_size_count", 0), values.get(
            "citadel:embedding_batch_size_sum", 0
        )

    async with httpx.AsyncClient(base_url=embedding_url, timeout=60) as client:
        count_before, texts_before = await batches(client)
        requests = [
            client.post("/v1/embeddings", json={"model": MINILM_NAME, "input": [f"sentence number {i}"] * 3})
            for i in range(32)
        ]
        responses = await asyncio.gather(*requests)
        assert all(response.status_code == 200 for response in responses)
        count_after, texts_after = await batches(client)
    assert texts_after - texts_before == 96  # every text encoded exactly once
    assert count_after - count_before < 32  # ... in fewer model calls than requests
