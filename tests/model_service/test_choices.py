"""n > 1: several choices from one prefill, sampled independently, counted and streamed by index."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.helpers import SMOLLM2_NAME

pytestmark = pytest.mark.timeout(120)

CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Tell me a short story."}]}


def post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=60)


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_sampled_choices_differ_and_usage_counts_them_all(model_url: str) -> None:
    prompt_before = metric(model_url, "vllm:prompt_tokens_total")
    body = post(model_url, "/v1/chat/completions", {**CHAT, "n": 3, "temperature": 1.0, "seed": 11,
                                                    "max_tokens": 24}).json()  # fmt: skip
    choices = body["choices"]
    assert [choice["index"] for choice in choices] == [0, 1, 2]
    texts = [choice["message"]["content"] for choice in choices]
    assert len(set(texts)) > 1
    tokens = [
        len(post(model_url, "/tokenize", {"prompt": text, "add_special_tokens": False}).json()["tokens"])
        for text in texts
    ]
    usage = body["usage"]
    # Each choice's tokens (an end-of-sequence token counts, and does not show in the text).
    ends = sum(choice["finish_reason"] == "stop" for choice in choices)
    assert sum(tokens) <= usage["completion_tokens"] <= sum(tokens) + ends + len(choices)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # One prefill: the prompt was counted once, not once per choice.
    assert metric(model_url, "vllm:prompt_tokens_total") - prompt_before == usage["prompt_tokens"]


def test_greedy_choices_are_the_same_as_a_single_answer(model_url: str) -> None:
    single = post(model_url, "/v1/chat/completions", {**CHAT, "temperature": 0, "max_tokens": 16}).json()
    several = post(
        model_url, "/v1/chat/completions", {**CHAT, "n": 2, "temperature": 0, "max_tokens": 16}
    ).json()
    expected = single["choices"][0]["message"]["content"]
    assert [choice["message"]["content"] for choice in several["choices"]] == [expected, expected]
    assert several["usage"]["completion_tokens"] == 2 * single["usage"]["completion_tokens"]


def test_a_seeded_request_repeats_every_choice(model_url: str) -> None:
    request = {**CHAT, "n": 2, "temperature": 1.0, "seed": 99, "max_tokens": 12}
    first = post(model_url, "/v1/chat/completions", request).json()["choices"]
    second = post(model_url, "/v1/chat/completions", request).json()["choices"]
    assert [c["message"]["content"] for c in first] == [c["message"]["content"] for c in second]


def test_streamed_choices_interleave_by_index(model_url: str) -> None:
    request = {**CHAT, "n": 2, "temperature": 1.0, "seed": 5, "max_tokens": 16, "stream": True,
               "stream_options": {"include_usage": True}}  # fmt: skip
    with httpx.stream("POST", f"{model_url}/v1/chat/completions", json=request, timeout=60) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(event) for event in events[:-1]]
    indices = [chunk["choices"][0]["index"] for chunk in chunks if chunk["choices"]]
    assert set(indices) == {0, 1}
    assert indices != sorted(indices)  # interleaved, not one choice after the other
    texts = {
        index: "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
                       and c["choices"][0]["index"] == index)
        for index in (0, 1)
    }  # fmt: skip
    whole = post(model_url, "/v1/chat/completions", {**request, "stream": False}).json()
    assert [texts[0], texts[1]] == [c["message"]["content"] for c in whole["choices"]]
    finishes = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert sorted(f["index"] for f in finishes) == [0, 1]
    assert chunks[-1]["usage"] == whole["usage"]


def test_text_completions_take_n_too(model_url: str) -> None:
    request = {"model": SMOLLM2_NAME, "prompt": "Once upon a time", "n": 2, "max_tokens": 8, "seed": 1}
    body = post(model_url, "/v1/completions", request).json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1]
    assert all(choice["text"] for choice in body["choices"])


def test_more_choices_than_sequences_is_a_400(model_url: str) -> None:
    response = post(model_url, "/v1/chat/completions", {**CHAT, "n": 5, "max_tokens": 4})  # max_num_seqs: 4
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"
