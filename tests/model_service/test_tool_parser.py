"""Splitting generated text into content and tool calls, whole or piece by piece."""

from __future__ import annotations

import itertools
import json

import pytest

from citadel.model_service.tool_parser import ParsedToolCall, ToolCallParser

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def parse(pieces: list[str]) -> tuple[str, list[ParsedToolCall]]:
    ids = (f"call_{n}" for n in itertools.count())
    parser = ToolCallParser(id_factory=lambda: next(ids))
    content, calls = "", list[ParsedToolCall]()
    for piece in pieces:
        shown, found = parser.feed(piece)
        content, calls = content + shown, calls + found
    shown, found = parser.finish()
    return content + shown, calls + found


def every_split(text: str) -> list[list[str]]:
    return [[text[:cut], text[cut:]] for cut in range(len(text) + 1)] + [list(text)]


@pytest.mark.parametrize("pieces", every_split(CALL))
def test_a_call_is_found_however_the_text_is_cut(pieces: list[str]) -> None:
    content, calls = parse(pieces)
    assert content == ""
    assert calls == [ParsedToolCall("call_0", "get_weather", '{"city": "Paris"}')]


def test_text_before_and_between_calls() -> None:
    text = f"Let me check.\n{CALL}\n{CALL.replace('Paris', 'Rome')}"
    for pieces in every_split(text):
        content, calls = parse(pieces)
        assert content == "Let me check."
        assert [json.loads(call.arguments)["city"] for call in calls] == ["Paris", "Rome"]
        assert [call.id for call in calls] == ["call_0", "call_1"]


def test_text_without_calls_is_kept_as_written_blanks_included() -> None:
    for pieces in every_split("a < b and <tool is not a marker  \n"):
        assert parse(pieces) == ("a < b and <tool is not a marker  \n", [])


def test_a_block_that_is_not_a_call_stays_content() -> None:
    text = "<tool_call>not json</tool_call> done"
    assert parse([text]) == (text, [])


def test_an_unclosed_block_is_a_call_if_its_json_is_complete_and_content_if_not() -> None:
    complete = '<tool_call>\n{"name": "f", "arguments": {}}'
    assert parse([complete])[1][0].name == "f"
    cut = '<tool_call>\n{"name": "f", "argu'
    assert parse([cut]) == (cut, [])
