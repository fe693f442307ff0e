"""Retrieval-augmented chat: the context reaches the model service; the extension field never does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.errors import CollectionNotFound, InvalidRequest
from citadel.vectors import Augmented, NewPoint, Vectors, augment, retrieval_header
from citadel.vectors.ids import text_point_id
from tests.helpers import SMOLLM2_NAME
from tests.vectors.conftest import opened_vectors, vector_settings

FACTS = [
    "The Citadel gateway listens on port 8000 and routes every request by model name.",
    "Bananas are botanically berries, while strawberries are not.",
    "Mount Everest is 8849 metres high.",
]
QUESTION = "Which port does the Citadel gateway listen on?"


def _chat(**extra: Any) -> dict[str, Any]:
    return {
        "model": SMOLLM2_NAME,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 1,
        "temperature": 0,
        **extra,
    }


async def _fill(vectors: Vectors) -> None:
    await vectors.add("docs", [NewPoint(text=fact, payload={"n": i}) for i, fact in enumerate(FACTS)])


async def _prompt_tokens(model_url: str, body: dict[str, Any]) -> int:
    async with httpx.AsyncClient(timeout=120) as client:
        answer = await client.post(f"{model_url}/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    tokens: int = answer.json()["usage"]["prompt_tokens"]
    return tokens


async def test_retrieved_context_reaches_the_model_service(vectors: Vectors, model_url: str) -> None:
    await _fill(vectors)
    body = _chat(citadel={"retrieval": {"collection": "docs", "top_k": 2}})
    augmented = await augment(body, vectors)
    assert "citadel" not in augmented.body
    assert "citadel" in body  # the caller's body is left as it was
    assert augmented.point_ids[0] == text_point_id(FACTS[0])
    assert len(augmented.point_ids) == 2
    assert retrieval_header(augmented.point_ids) == ",".join(str(i) for i in augmented.point_ids)
    assert augmented.extension == {"retrieval": {"collection": "docs", "point_ids": augmented.point_ids}}
    system, user = augmented.body["messages"]
    assert system["role"] == "system"
    assert f"[1] {FACTS[0]}" in system["content"]
    assert user == {"role": "user", "content": QUESTION}
    # The model service really receives the context: the same question costs more prompt tokens with it.
    plain = await _prompt_tokens(model_url, _chat())
    with_context = await _prompt_tokens(model_url, augmented.body)
    assert with_context > plain + 20


async def test_context_joins_the_requests_own_system_message(vectors: Vectors) -> None:
    await _fill(vectors)
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Tell me about fruit."},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": [{"type": "text", "text": "Are bananas berries?"}]},
    ]
    body = _chat(messages=messages, citadel={"retrieval": {"collection": "docs", "top_k": 1}})
    augmented = await augment(body, vectors)
    assert augmented.point_ids == [text_point_id(FACTS[1])]
    first = augmented.body["messages"][0]
    assert first["content"].startswith("Answer in one word.\n\n")
    assert FACTS[1] in first["content"]
    assert augmented.body["messages"][1:] == messages[1:]


async def test_model_default_and_opting_out(tmp_path: Path, embedding_url: str) -> None:
    settings = vector_settings(
        tmp_path, embedding_url, retrieval={SMOLLM2_NAME: {"collection": "docs", "top_k": 1}}
    )
    async with opened_vectors(settings) as vectors:
        await _fill(vectors)
        by_default = await augment(_chat(), vectors)
        assert by_default.point_ids == [text_point_id(FACTS[0])]
        opted_out = await augment(_chat(citadel={"retrieval": False}), vectors)
        assert opted_out.point_ids == []
        assert opted_out.body == _chat()
        other_model = await augment(_chat(model="other"), vectors)
        assert other_model.point_ids == []


async def test_no_retrieval_without_a_request_or_a_question(vectors: Vectors) -> None:
    await _fill(vectors)
    assert await augment(_chat(), vectors) == Augmented(_chat())
    no_user = _chat(
        messages=[{"role": "system", "content": "hi"}], citadel={"retrieval": {"collection": "docs"}}
    )
    assert (await augment(no_user, vectors)).point_ids == []
    filtered = _chat(citadel={"retrieval": {"collection": "docs", "filter": {"n": 2}}})
    assert (await augment(filtered, vectors)).point_ids == [text_point_id(FACTS[2])]


@pytest.mark.parametrize(
    "extension",
    [
        "yes",
        {"retrieval": "docs"},
        {"retrieval": {"top_k": 2}},
        {"retrieval": {"collection": "docs", "top_k": 0}},
        {"retrieval": {"collection": "docs", "filter": "lang=en"}},
    ],
)
async def test_bad_retrieval_requests_are_400(vectors: Vectors, extension: Any) -> None:
    with pytest.raises(InvalidRequest):
        await augment(_chat(citadel=extension), vectors)


async def test_unknown_collection_is_404(vectors: Vectors) -> None:
    with pytest.raises(CollectionNotFound):
        await augment(_chat(citadel={"retrieval": {"collection": "nope"}}), vectors)
