"""The vector API through an in-process app: CRUD with real embeddings, payload filters, errors."""

from __future__ import annotations

from typing import Any

import httpx

from citadel.vectors.ids import text_point_id

DOCS: list[dict[str, Any]] = [
    {
        "text": "Qdrant stores vectors and searches them by similarity.",
        "payload": {"topic": "db", "lang": "en"},
    },
    {
        "text": "Redis keeps the response cache shared by every worker.",
        "payload": {"topic": "cache", "lang": "en"},
    },
    {"text": "Le chat dort sur le canapé toute la journée.", "payload": {"topic": "pets", "lang": "fr"}},
    {"text": "A cat sleeps on the sofa all day long.", "payload": {"topic": "pets", "lang": "en"}},
]


async def _upsert(client: httpx.AsyncClient, points: list[dict[str, Any]], collection: str = "docs") -> Any:
    answer = await client.post(f"/v1/vectors/{collection}/points", json={"points": points})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _search(client: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    answer = await client.post("/v1/vectors/docs/search", json=body)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def test_upsert_search_filter_delete(client: httpx.AsyncClient) -> None:
    added = await _upsert(client, DOCS)
    assert added["ids"] == [text_point_id(doc["text"]) for doc in DOCS]
    again = await _upsert(client, DOCS[:1])  # same content, same id: overwritten, not duplicated
    assert again["ids"] == added["ids"][:1]

    listing = (await client.get("/v1/vectors")).json()
    counts = {item["name"]: (item["points"], item["dimensions"]) for item in listing["data"]}
    assert counts == {"docs": (4, 384), "notes": (0, 384)}
    assert listing["embedding_model"] == "all-minilm-l6-v2"

    hits = await _search(client, text="Which database does similarity search over vectors?", limit=2)
    assert hits[0]["text"] == DOCS[0]["text"]
    assert hits[0]["payload"]["topic"] == "db"
    assert hits[0]["score"] > hits[1]["score"]

    pets = await _search(client, text="a sleeping cat", limit=4, filter={"lang": "en"})
    assert pets[0]["text"] == DOCS[3]["text"]
    assert {hit["payload"]["lang"] for hit in pets} == {"en"}
    assert len(pets) == 3
    any_of = await _search(client, text="a sleeping cat", limit=4, filter={"topic": ["db", "cache"]})
    assert {hit["payload"]["topic"] for hit in any_of} == {"db", "cache"}

    by_id = await client.request("DELETE", "/v1/vectors/docs/points", json={"ids": [added["ids"][1]]})
    assert by_id.json() == {"object": "vector_delete", "collection": "docs", "deleted": 1}
    by_filter = await client.request("DELETE", "/v1/vectors/docs/points", json={"filter": {"topic": "pets"}})
    assert by_filter.json()["deleted"] == 2
    remaining = await _search(client, text="anything", limit=10)
    assert [hit["text"] for hit in remaining] == [DOCS[0]["text"]]


async def test_raw_vectors_and_client_ids(client: httpx.AsyncClient) -> None:
    unit = [1.0] + [0.0] * 383
    other = [0.0, 1.0] + [0.0] * 382
    points: list[dict[str, Any]] = [
        {"id": 7, "vector": unit, "payload": {"kind": "raw"}},
        {"id": "0b9f5d3e-8c4c-4a55-9d43-0f6a2b3c4d5e", "vector": other},
    ]
    added = await _upsert(client, points, collection="notes")
    assert added["ids"] == [7, "0b9f5d3e-8c4c-4a55-9d43-0f6a2b3c4d5e"]
    answer = await client.post("/v1/vectors/notes/search", json={"vector": unit, "limit": 1})
    best = answer.json()["data"][0]
    assert best["id"] == 7
    assert best["payload"] == {"kind": "raw"}
    assert best["text"] is None
    assert abs(best["score"] - 1.0) < 1e-5


async def test_errors_are_openai_shaped(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/vectors/nope/search", json={"text": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "collection_not_found"
    short = await client.post("/v1/vectors/docs/points", json={"points": [{"vector": [1.0, 2.0]}]})
    assert short.status_code == 400
    assert "384 dimensions" in short.json()["error"]["message"]
    empty = await client.post("/v1/vectors/docs/points", json={"points": [{"payload": {"a": 1}}]})
    assert empty.status_code == 400
    assert empty.json()["error"]["type"] == "invalid_request_error"
    bad_id = await client.post(
        "/v1/vectors/docs/points", json={"points": [{"id": "not-a-uuid", "text": "x"}]}
    )
    assert bad_id.status_code == 400
    assert bad_id.json()["error"]["param"] == "points[0].id"
    both = await client.post("/v1/vectors/docs/search", json={"text": "x", "vector": [1.0]})
    assert both.status_code == 400
    nothing = await client.request("DELETE", "/v1/vectors/docs/points", json={})
    assert nothing.status_code == 400
    bad_filter = await client.post("/v1/vectors/docs/search", json={"text": "x", "filter": {"a": {"b": 1}}})
    assert bad_filter.status_code == 400
