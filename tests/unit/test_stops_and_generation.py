"""Stop strings, UTF-8 split across tokens, token budgets: the text-side of a generation."""

from __future__ import annotations

import pytest

from citadel.model_service.generation import Generation
from citadel.model_service.stops import StopMatcher


def test_stop_string_split_across_pieces_is_never_emitted() -> None:
    matcher = StopMatcher(["</s>"])
    assert matcher.feed("Hello <") == ("Hello ", False)
    assert matcher.feed("/") == ("", False)
    assert matcher.feed("s> trailing") == ("", True)


def test_held_prefix_is_released_when_it_turns_out_not_to_stop() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("the EN") == ("the ", False)
    assert matcher.feed("D") == ("", True)
    other = StopMatcher(["END"])
    assert other.feed("the EN") == ("the ", False)
    assert other.feed("ough") == ("ENough", False)


def test_earliest_of_several_stops_wins() -> None:
    matcher = StopMatcher(["world", "lo"])
    assert matcher.feed("hello world") == ("hel", True)


def test_flush_returns_held_text() -> None:
    matcher = StopMatcher(["###"])
    assert matcher.feed("a#") == ("a", False)
    assert matcher.flush() == "#"


def test_multibyte_character_split_across_tokens_comes_out_whole() -> None:
    generation = Generation([], max_tokens=10)
    euro = "€".encode()
    first = generation.on_token(euro[:2], end_of_generation=False)
    second = generation.on_token(euro[2:], end_of_generation=False)
    assert (first.text, second.text) == ("", "€")


def test_max_tokens_finishes_with_length_and_counts_tokens() -> None:
    generation = Generation([], max_tokens=2)
    assert generation.on_token(b"a", end_of_generation=False).finish_reason is None
    last = generation.on_token(b"b", end_of_generation=False)
    assert (last.text, last.finish_reason, last.completion_tokens) == ("b", "length", 2)


def test_end_of_sequence_finishes_with_stop() -> None:
    generation = Generation(["zz"], max_tokens=5)
    generation.on_token(b"hi z", end_of_generation=False)
    last = generation.on_token(b"", end_of_generation=True)
    assert (last.text, last.finish_reason, last.completion_tokens) == ("z", "stop", 2)


@pytest.mark.parametrize("reason", ["abort", "stop"])
def test_finish_from_outside_keeps_reason(reason: str) -> None:
    generation = Generation([], max_tokens=5)
    delta = generation.finish(reason)  # type: ignore[arg-type]
    assert delta.finish_reason == reason
    assert generation.finished
