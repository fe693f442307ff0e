"""Cache keys differ whenever the answer could differ; the policy decides what is cached."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.cache.keys import request_key, scope_for
from citadel.cache.policy import is_deterministic, should_cache
from citadel.config.sections import ModelCachePolicy
from citadel.errors import InvalidRequest

CHAT = "/v1/chat/completions"
BASE: dict[str, Any] = {
    "model": "smollm2-135m-instruct",
    "messages": [{"role": "user", "content": "Name a colour."}],
    "temperature": 0,
    "max_tokens": 16,
}

# Each changes what the model answers (or how the answer is shaped) and so must change the key.
CHANGES: list[tuple[str, Any]] = [
    ("model", "other-model"),
    ("messages", [{"role": "user", "content": "Name a color."}]),
    ("messages", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]),
    ("temperature", 0.7),
    ("top_p", 0.9),
    ("top_k", 40),
    ("min_p", 0.05),
    ("seed", 7),
    ("max_tokens", 17),
    ("max_completion_tokens", 16),
    ("stop", ["\n"]),
    ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5),
    ("repetition_penalty", 1.1),
    ("logit_bias", {"42": -100}),
    ("logprobs", True),
    ("top_logprobs", 2),
    ("n", 2),
    ("stream", True),
    ("stream_options", {"include_usage": True}),
    ("response_format", {"type": "json_object"}),
    ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    ("tool_choice", "none"),
    ("some_future_parameter", 1),
]


@pytest.mark.parametrize(("field", "value"), CHANGES, ids=[f"{f}={v!r}"[:40] for f, v in CHANGES])
def test_every_output_changing_parameter_changes_the_key(field: str, value: Any) -> None:
    changed = {**BASE, field: value}
    assert request_key(CHAT, changed, scope="shared") != request_key(CHAT, BASE, scope="shared")


def test_the_endpoint_and_the_scope_change_the_key() -> None:
    key = request_key(CHAT, BASE, scope="shared")
    assert request_key("/v1/completions", BASE, scope="shared") != key
    assert request_key(CHAT, BASE, scope=scope_for("key-1", per_key=True)) != key
    assert scope_for("key-1", per_key=True) != scope_for("key-2", per_key=True)
    assert scope_for("key-1", per_key=False) == "shared"


def test_caller_fields_order_and_number_spelling_do_not_change_the_key() -> None:
    key = request_key(CHAT, BASE, scope="shared")
    reordered = dict(reversed(list(BASE.items())))
    assert request_key(CHAT, reordered, scope="shared") == key
    assert request_key(CHAT, {**BASE, "temperature": 0.0}, scope="shared") == key
    assert request_key(CHAT, {**BASE, "user": "alice", "metadata": {"a": "b"}}, scope="shared") == key
    assert request_key(CHAT, {**BASE, "citadel": {"retrieval": {"collection": "c"}}}, scope="shared") == key


def test_keys_name_their_model() -> None:
    assert request_key(CHAT, BASE, scope="shared").startswith(
        "citadel:cache:v1:smollm2-135m-instruct:shared:"
    )


@pytest.mark.parametrize(
    ("body", "deterministic"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0.0}, True),
        ({"temperature": 0.8, "seed": 3}, True),
        ({"seed": 0}, True),
        ({"temperature": 0.8}, False),
        ({}, False),
        ({"temperature": False}, False),
    ],
)
def test_deterministic_requests(body: dict[str, Any], deterministic: bool) -> None:
    assert is_deterministic(body) is deterministic


def test_header_and_model_policy() -> None:
    sampled: dict[str, Any] = {"temperature": 0.9}
    greedy: dict[str, Any] = {"temperature": 0}
    assert should_cache(greedy, None, None)
    assert not should_cache(sampled, None, None)
    assert should_cache(sampled, "on", None)
    assert not should_cache(greedy, "off", None)
    assert not should_cache(greedy, "OFF", ModelCachePolicy(mode="always"))
    assert should_cache(sampled, None, ModelCachePolicy(mode="always"))
    assert not should_cache(greedy, "on", ModelCachePolicy(mode="never"))
    with pytest.raises(InvalidRequest) as raised:
        should_cache(greedy, "sometimes", None)
    assert raised.value.param == "x-citadel-cache"
