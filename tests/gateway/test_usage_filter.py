"""Taking the usage-only chunk out of a relayed SSE stream, whatever way the bytes are cut."""

from __future__ import annotations

import json

import pytest

from citadel.gateway.request import parse_request
from citadel.gateway.usage import UsageChunkFilter, usage_counts

DELTA = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
USAGE_PYTHON = b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}\n\n'
USAGE_VLLM = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"


@pytest.mark.parametrize("usage", [USAGE_PYTHON, USAGE_VLLM], ids=["json.dumps", "compact"])
@pytest.mark.parametrize("piece", [1, 7, 64, 10_000])
def test_the_usage_event_is_dropped_however_the_stream_is_cut(usage: bytes, piece: int) -> None:
    stream = DELTA + DELTA + usage + DONE
    usage_filter = UsageChunkFilter()
    relayed = b"".join(usage_filter.feed(stream[i : i + piece]) for i in range(0, len(stream), piece))
    relayed += usage_filter.flush()
    assert relayed == DELTA + DELTA + DONE
    assert usage_counts(stream) == {"prompt": 5, "completion": 2}  # what the gateway counts from


def test_events_pass_as_soon_as_they_are_complete() -> None:
    usage_filter = UsageChunkFilter()
    assert usage_filter.feed(DELTA[:10]) == b""
    assert usage_filter.feed(DELTA[10:] + DELTA[:5]) == DELTA
    assert usage_filter.flush() == DELTA[:5]  # an unterminated tail is passed on at the end


def test_streams_ask_upstreams_for_usage_only_when_the_client_did_not() -> None:
    plain = parse_request(b'{"model": "m", "stream": true, "stream_options": {"continuous_usage_stats": 1}}')
    assert plain.usage_added
    sent = json.loads(plain.for_model("m"))
    assert sent["stream_options"] == {"continuous_usage_stats": 1, "include_usage": True}
    asked = parse_request(b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}')
    assert not asked.usage_added
    assert asked.for_model("m") == asked.raw  # forwarded byte for byte
    whole = parse_request(b'{"model": "m"}')
    assert not whole.usage_added
    assert whole.for_model("m") == whole.raw
