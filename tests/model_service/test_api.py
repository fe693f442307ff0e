"""The built-in model service over a real socket: vLLM's OpenAI surface on SmolLM2-135M."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.helpers import SMOLLM2_NAME

CHAT = {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Name three colours."}]}


def post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=60)


def sse_events(url: str, path: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream("POST", f"{url}{path}", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]


def test_chat_completion_returns_text_and_consistent_usage(model_url: str) -> None:
    response = post(model_url, "/v1/chat/completions", {**CHAT, "max_tokens": 12, "temperature": 0})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == SMOLLM2_NAME
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 1 <= usage["completion_tokens"] <= 12
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 12


def test_prompt_tokens_are_the_rendered_chat_template(model_url: str) -> None:
    body = post(model_url, "/v1/chat/completions", {**CHAT, "max_tokens": 1}).json()
    rendered = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"
    )
    tokens = post(model_url, "/tokenize", {"prompt": rendered}).json()
    assert body["usage"]["prompt_tokens"] == tokens["count"]


def test_greedy_output_is_deterministic_and_seeded_sampling_repeats(model_url: str) -> None:
    greedy = {**CHAT, "max_tokens": 16, "temperature": 0}
    first = post(model_url, "/v1/chat/completions", greedy).json()["choices"][0]["message"]["content"]
    second = post(model_url, "/v1/chat/completions", greedy).json()["choices"][0]["message"]["content"]
    assert first == second
    seeded = {**CHAT, "max_tokens": 16, "temperature": 1.0, "seed": 1234}
    a = post(model_url, "/v1/chat/completions", seeded).json()["choices"][0]["message"]["content"]
    b = post(model_url, "/v1/chat/completions", seeded).json()["choices"][0]["message"]["content"]
    assert a == b


def test_stream_matches_non_stream_and_reports_usage(model_url: str) -> None:
    request = {**CHAT, "max_tokens": 16, "temperature": 0}
    whole = post(model_url, "/v1/chat/completions", request).json()
    events = sse_events(
        model_url,
        "/v1/chat/completions",
        {**request, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == whole["usage"]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == whole["choices"][0]["finish_reason"]


def test_stream_without_usage_option_has_no_usage(model_url: str) -> None:
    events = sse_events(
        model_url, "/v1/completions", {"model": SMOLLM2_NAME, "prompt": "Hi", "max_tokens": 3, "stream": True}
    )
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks
    assert all("usage" not in chunk for chunk in chunks)


def test_completion_honours_max_tokens(model_url: str) -> None:
    body = post(
        model_url,
        "/v1/completions",
        {"model": SMOLLM2_NAME, "prompt": "The sky is", "max_tokens": 5, "temperature": 0},
    ).json()
    assert body["object"] == "text_completion"
    assert body["usage"]["completion_tokens"] <= 5
    if body["choices"][0]["finish_reason"] == "length":
        assert body["usage"]["completion_tokens"] == 5


def test_stop_string_ends_the_completion_before_it(model_url: str) -> None:
    request = {"model": SMOLLM2_NAME, "prompt": "Count: 1, 2, 3, 4, 5,", "max_tokens": 30, "temperature": 0}
    free = post(model_url, "/v1/completions", request).json()["choices"][0]["text"]
    assert "," in free, free
    stop = free[free.index(",") : free.index(",") + 1]
    stopped = post(model_url, "/v1/completions", {**request, "stop": [stop]}).json()["choices"][0]
    assert stopped["finish_reason"] == "stop"
    assert stopped["text"] == free[: free.index(stop)]


def test_token_prompt_is_accepted(model_url: str) -> None:
    tokens = post(model_url, "/tokenize", {"prompt": "Hello world"}).json()["tokens"]
    body = post(
        model_url, "/v1/completions", {"model": SMOLLM2_NAME, "prompt": tokens, "max_tokens": 2}
    ).json()
    assert body["usage"]["prompt_tokens"] == len(tokens)


def test_tokenize_detokenize_round_trip(model_url: str) -> None:
    tokens = post(model_url, "/tokenize", {"prompt": "Citadel serves models.", "add_special_tokens": False})
    assert tokens.json()["max_model_len"] == 512
    text = post(model_url, "/detokenize", {"tokens": tokens.json()["tokens"]}).json()["prompt"]
    assert text == "Citadel serves models."


def test_context_overflow_is_an_openai_400(model_url: str) -> None:
    response = post(model_url, "/v1/completions", {"model": SMOLLM2_NAME, "prompt": "word " * 600})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert "512" in error["message"]
    too_long = post(model_url, "/v1/chat/completions", {**CHAT, "max_tokens": 600})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**CHAT, "temperature": 5}, "temperature"),
        ({**CHAT, "n": 0}, "n"),
        ({**CHAT, "n": 200}, "n"),
        ({**CHAT, "max_tokens": 0}, "max_tokens"),
        ({**CHAT, "messages": []}, "messages"),
        ({**CHAT, "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_bad_parameters_are_openai_400s(model_url: str, body: dict[str, Any], param: str) -> None:
    response = post(model_url, "/v1/chat/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert post(model_url, "/v1/chat/completions", {**CHAT, "max_tokens": 1}).status_code == 200


def test_malformed_json_is_a_400(model_url: str) -> None:
    response = httpx.post(
        f"{model_url}/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_a_404(model_url: str) -> None:
    response = post(model_url, "/v1/chat/completions", {**CHAT, "model": "gpt-17"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_models_and_health_look_like_vllm(model_url: str) -> None:
    assert httpx.get(f"{model_url}/health").status_code == 200
    card = httpx.get(f"{model_url}/v1/models").json()["data"][0]
    assert card["id"] == SMOLLM2_NAME
    assert card["max_model_len"] == 512
    assert card["root"].endswith(".gguf")


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_move_with_requests(model_url: str) -> None:
    before = httpx.get(f"{model_url}/metrics").text
    body = post(
        model_url,
        "/v1/completions",
        {"model": SMOLLM2_NAME, "prompt": "One two", "max_tokens": 4, "temperature": 0},
    ).json()
    after = httpx.get(f"{model_url}/metrics").text
    labels = {"model_name": SMOLLM2_NAME}
    prompt_delta = _metric(after, "vllm:prompt_tokens_total", **labels) - _metric(
        before, "vllm:prompt_tokens_total", **labels
    )
    generated_delta = _metric(after, "vllm:generation_tokens_total", **labels) - _metric(
        before, "vllm:generation_tokens_total", **labels
    )
    assert prompt_delta == body["usage"]["prompt_tokens"]
    assert generated_delta == body["usage"]["completion_tokens"]
    count = "vllm:e2e_request_latency_seconds_count"
    assert _metric(after, count, **labels) == _metric(before, count, **labels) + 1
    for histogram, added in (
        ("vllm:time_to_first_token_seconds_count", 1),
        ("vllm:request_queue_time_seconds_count", 1),
        ("vllm:inter_token_latency_seconds_count", body["usage"]["completion_tokens"] - 1),
    ):
        assert _metric(after, histogram, **labels) == _metric(before, histogram, **labels) + added, histogram
    assert 0 <= _metric(after, "vllm:kv_cache_usage_perc", **labels) <= 1
    assert _metric(after, "vllm:num_requests_running", **labels) == 0
    reason = body["choices"][0]["finish_reason"]
    success = "vllm:request_success_total"
    assert (
        _metric(after, success, finished_reason=reason)
        == _metric(before, success, finished_reason=reason) + 1
    )


def test_completion_logprobs_describe_the_sampled_tokens(model_url: str) -> None:
    body = post(
        model_url,
        "/v1/completions",
        {
            "model": SMOLLM2_NAME,
            "prompt": "The capital of France is",
            "max_tokens": 4,
            "temperature": 0,
            "logprobs": 3,
            "ignore_eos": True,
        },
    ).json()
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    assert len(logprobs["tokens"]) == body["usage"]["completion_tokens"] == 4
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert logprobs["text_offset"][0] == 0
    for token, logprob, top in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert logprob <= 0
        assert len(top) == 3
        # Greedy: the sampled token is the most likely one.
        assert max(top.values()) == pytest.approx(logprob)
        assert token in top


def test_chat_logprobs_stream_one_entry_per_token(model_url: str) -> None:
    events = sse_events(
        model_url,
        "/v1/chat/completions",
        {
            **CHAT,
            "max_tokens": 5,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 2,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    chunks = [json.loads(event) for event in events[:-1]]
    entries = [
        e
        for c in chunks
        if c["choices"] and c["choices"][0]["logprobs"]
        for e in c["choices"][0]["logprobs"]["content"]
    ]
    assert len(entries) == chunks[-1]["usage"]["completion_tokens"]
    assert all(len(entry["top_logprobs"]) == 2 and entry["logprob"] <= 0 for entry in entries)
    assert all(bytes(entry["bytes"]).decode("utf-8", "replace") == entry["token"] for entry in entries)
