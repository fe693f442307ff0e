"""Token-id input to /v1/embeddings: a list of ints is one input, a list of lists several (OpenAI, vLLM)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import openai
import pytest
from transformers import AutoTokenizer

from citadel.model_source import resolve_model_source
from tests.helpers import MINILM_NAME, MINILM_SOURCE

pytestmark = pytest.mark.timeout(120)


def embed(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json={"model": MINILM_NAME, **body}, timeout=60)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(str(resolve_model_source(MINILM_SOURCE)), local_files_only=True)


def test_token_ids_embed_as_the_text_they_encode(embedding_url: str, tokenizer: Any) -> None:
    texts = ["The cat is sleeping on the sofa.", "Quarterly revenue grew."]
    ids = [tokenizer(text)["input_ids"] for text in texts]  # with [CLS] and [SEP], as the text is encoded
    by_text = [item["embedding"] for item in embed(embedding_url, {"input": texts}).json()["data"]]
    body = embed(embedding_url, {"input": ids}).json()
    assert np.allclose([item["embedding"] for item in body["data"]], by_text, atol=1e-5)
    assert body["usage"]["prompt_tokens"] == sum(len(item) for item in ids)
    one = embed(embedding_url, {"input": ids[0]}).json()
    assert len(one["data"]) == 1
    assert np.allclose(one["data"][0]["embedding"], by_text[0], atol=1e-5)


def test_the_official_client_sends_token_ids(embedding_url: str, tokenizer: Any) -> None:
    client = openai.OpenAI(base_url=f"{embedding_url}/v1", api_key="unused", max_retries=0)
    ids = tokenizer("hello world")["input_ids"]
    vectors = client.embeddings.create(model=MINILM_NAME, input=[ids, ids[:-1]])
    assert len(vectors.data) == 2
    assert not np.allclose(vectors.data[0].embedding, vectors.data[1].embedding)


@pytest.mark.parametrize(
    "bad", [[[]], [-1], [[1, 2], [10**9]], [[1], "text"]], ids=["empty", "negative", "beyond", "mixed"]
)
def test_bad_token_input_is_a_400(embedding_url: str, bad: Any) -> None:
    response = embed(embedding_url, {"input": bad})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_too_many_tokens_is_refused(embedding_url: str) -> None:
    response = embed(embedding_url, {"input": [101] * 600})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
