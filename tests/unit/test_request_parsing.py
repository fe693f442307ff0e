"""Property-based tests of request parsing: the safe JSON decoder, the gateway's parse and the services'
pydantic request models. Whatever the bytes, the only error is a typed client error; valid requests parse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from citadel.cache.keys import request_key
from citadel.cache.policy import is_deterministic
from citadel.embedding_service.schemas import EmbeddingRequest
from citadel.errors import CitadelError
from citadel.gateway.request import parse_request
from citadel.http_body import MAX_DEPTH, decode_json
from citadel.model_service.schemas import ChatCompletionRequest, CompletionRequest

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, surrogates included (hypothesis' text() leaves them out, and they are what crashed).
any_text = st.lists(st.integers(0, 0x10FFFF), max_size=12).map(lambda points: "".join(map(chr, points)))
numbers = st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=20,
)
VALID_CHAT: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "Hello"}],
    "max_tokens": 8,
    "temperature": 0.5,
    "stream": False,
}


def _only_client_errors(raw: bytes) -> None:
    """The gateway's and the services' reading of ``raw`` succeed or raise a 4xx CitadelError; anything
    else propagates and fails the test."""
    for reader in (_gateway_reads, _service_reads):
        try:
            reader(raw)
        except CitadelError as exc:
            if not 400 <= exc.status_code < 500:
                raise


def _gateway_reads(raw: bytes) -> None:
    """Everything the gateway does with a body before forwarding it."""
    parsed = parse_request(raw)
    parsed.estimated_prompt_tokens()
    parsed.max_tokens()
    parsed.for_model("other")
    is_deterministic(parsed.body)
    request_key("/v1/chat/completions", parsed.body, scope="shared")


def _assert_clean(value: Any) -> None:
    """What the decoder lets through can be written out again: UTF-8 text, finite numbers, 64-bit ints."""
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    if isinstance(value, int):
        assert -(2**63) <= value < 2**64
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _assert_clean(item)


def _service_reads(raw: bytes) -> None:
    """What a service does with a body: decode it, validate it, and use what validated."""
    body = decode_json(raw)
    _assert_clean(body)
    for model in (ChatCompletionRequest, CompletionRequest, EmbeddingRequest):
        try:
            request = model.model_validate(body)
        except ValidationError:
            continue  # FastAPI turns this into a 400
        if isinstance(request, ChatCompletionRequest):
            for message in request.messages:
                json.dumps(message.as_template_input()).encode()
                str(message.as_template_input()["content"]).encode("utf-8")
            request.sampling(16)
        elif isinstance(request, EmbeddingRequest):
            for item in request.inputs:
                if isinstance(item, str):
                    item.encode("utf-8")


@BOUNDED
@given(st.binary(max_size=200))
@example(b"[" * 10_000)
@example(b'{"model": "m", "x": NaN}')
@example(b'"\\ud800"')
@example(b"\xff")
def test_arbitrary_bytes_are_parsed_or_refused_with_a_client_error(raw: bytes) -> None:
    _only_client_errors(raw)


@BOUNDED
@given(json_values, st.booleans())
def test_arbitrary_json_values_are_parsed_or_refused_with_a_client_error(
    value: Any, ascii_only: bool
) -> None:
    # allow_nan: the encoder writes NaN/Infinity literals, which the decoder must refuse.
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")  # lone surrogates as (invalid) UTF-8 bytes
    _only_client_errors(raw)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


@BOUNDED
@given(st.data())
def test_mutated_valid_requests_are_parsed_or_refused_with_a_client_error(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(VALID_CHAT)))
    mutated = _replaced(VALID_CHAT, path, data.draw(json_values))
    raw = json.dumps(mutated).encode()
    _only_client_errors(raw)


safe_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
valid_chats = st.fixed_dictionaries(
    {
        "model": st.text(min_size=1, max_size=20),
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "user", "assistant", "developer"]),
                    "content": safe_text
                    | st.lists(
                        st.fixed_dictionaries({"type": st.just("text"), "text": safe_text}),
                        min_size=1,
                        max_size=3,
                    ),
                }
            ),
            min_size=1,
            max_size=4,
        ),
    },
    optional={
        "max_tokens": st.integers(1, 4096),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "seed": st.integers(-(2**63), 2**64 - 1),
        "stream": st.booleans(),
        "stop": st.lists(safe_text, max_size=4),
        "metadata": st.dictionaries(safe_text, safe_text, max_size=3),
    },
)


@BOUNDED
@given(valid_chats, st.booleans())
def test_valid_chat_requests_parse_at_the_gateway_and_the_service(
    body: dict[str, Any], ascii_only: bool
) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode()
    parsed = parse_request(raw)
    assert parsed.model == body["model"]
    assert parsed.stream is body.get("stream", False)
    assert parsed.max_tokens() == body.get("max_tokens", 0)
    assert decode_json(raw) == body
    request = ChatCompletionRequest.model_validate(decode_json(raw))
    assert len(request.messages) == len(body["messages"])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3 * MAX_DEPTH), st.sampled_from(["[]", "{}"]))
def test_nesting_is_refused_exactly_past_the_limit(depth: int, brackets: str) -> None:
    opening, closing = brackets[0], brackets[1]
    inner = "1" if opening == "[" else '"x": 1'
    text = (
        (opening if opening == "[" else '{"x":') * (depth - 1)
        + f"{opening}{inner}{closing}"
        + closing * (depth - 1)
    )
    if depth <= MAX_DEPTH:
        decode_json(text.encode())
    else:
        with pytest.raises(CitadelError, match=f"deeper than {MAX_DEPTH}"):
            decode_json(text.encode())
