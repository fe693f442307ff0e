"""Structured outputs on SmolLM2-135M: every answer is valid against its schema, greedy or sampled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import SMOLLM2_NAME
from tests.model_service.schema_cases import SCHEMAS, check

pytestmark = pytest.mark.timeout(240)


def chat(url: str, **body: Any) -> httpx.Response:
    request = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Describe a customer order."}]}
    return httpx.post(f"{url}/v1/chat/completions", json={**request, **body}, timeout=120)


def json_schema(name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name], "strict": True}}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_answer_validates_greedy_and_sampled(model_url: str, name: str) -> None:
    greedy = chat(model_url, response_format=json_schema(name), temperature=0, max_tokens=300)
    sampled = chat(model_url, response_format=json_schema(name), temperature=1.0, seed=7, n=3, max_tokens=300)
    choices = greedy.json()["choices"] + sampled.json()["choices"]
    assert len(choices) == 4
    for choice in choices:
        assert choice["finish_reason"] == "stop", choice
        check(SCHEMAS[name], choice["message"]["content"])


def test_json_object_is_a_json_object(model_url: str) -> None:
    # JSON mode bounds nothing: a prompt whose answer is short, so that it ends within the budget.
    messages = [{"role": "user", "content": 'Give the capital of France as JSON: {"capital": ...}'}]
    body = chat(
        model_url, messages=messages, response_format={"type": "json_object"}, temperature=0, max_tokens=200
    )
    choice = body.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    check({"type": "object"}, choice["message"]["content"])


def test_streamed_structured_output_is_the_same_text(model_url: str) -> None:
    request = {"response_format": json_schema("enums"), "temperature": 0, "max_tokens": 100}
    whole = chat(model_url, **request).json()["choices"][0]["message"]["content"]
    import json

    with httpx.stream(
        "POST",
        f"{model_url}/v1/chat/completions",
        json={
            "model": SMOLLM2_NAME,
            "messages": [{"role": "user", "content": "Describe a customer order."}],
            "stream": True,
            **request,
        },
        timeout=60,
    ) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == whole
    check(SCHEMAS["enums"], whole)


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "string", "format": "email"}, "format: email"),
        ({"type": "number", "minimum": 0}, "`minimum` on a number"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "`oneOf`"),
        ({"type": "object", "properties": {"a": {"not": {"type": "null"}}}}, "`not`"),
        ({"type": "object", "patternProperties": {"^x": {"type": "string"}}}, "`patternProperties`"),
        ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "`uniqueItems`"),
        ({"type": "string", "pattern": "^(?=a)b$"}, "pattern"),
        ({"$ref": "https://example.invalid/schema.json"}, "`$ref`"),
    ],
)
def test_a_feature_the_grammar_cannot_honour_is_a_400_naming_it(
    model_url: str, schema: dict[str, Any], named: str
) -> None:
    response = chat(
        model_url, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert named in error["message"]
    assert error["param"] == "response_format"
    assert error["type"] == "invalid_request_error"


def test_a_json_schema_format_without_a_schema_is_refused(model_url: str) -> None:
    response = chat(model_url, response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("response_format")
