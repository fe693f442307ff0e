"""Small pieces: budget periods, cost, body anonymisation, token estimates, secrets and rate-limit headers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from citadel.config.sections import ModelPrice
from citadel.errors import AuthenticationError
from citadel.governance.api_keys import generate_secret, hash_secret, redact, visible_prefix
from citadel.governance.bearer import bearer_secret
from citadel.governance.budget import period_start
from citadel.governance.costs import request_cost
from citadel.governance.entry import LENGTHS, RequestLogEntry, anonymise
from citadel.governance.estimate import estimate_tokens
from citadel.governance.ratelimit import Decision, Window


def test_budget_periods_start_at_utc_midnight() -> None:
    now = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # a Friday
    assert period_start("day", now) == datetime(2026, 11, 27, tzinfo=UTC)
    assert period_start("week", now) == datetime(2026, 11, 23, tzinfo=UTC)
    assert period_start("month", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="spend period"):
        period_start("year", now)


def test_cost_uses_the_price_per_1k_of_the_model() -> None:
    prices = {"big": ModelPrice(prompt_per_1k=0.5, completion_per_1k=1.5)}
    assert request_cost(prices, "big", 2000, 1000) == pytest.approx(2.5)
    assert request_cost(prices, "unpriced", 2000, 1000) == 0.0


def test_anonymise_masks_contacts_and_numbers() -> None:
    text = "Mail ann.lee+x@corp.example.org, call +44 20 7946 0958, card 4111-1111-1111-1111, host 10.1.2.3"
    masked = anonymise(text)
    assert masked == "Mail <email>, call <number>, card <number>, host <ip>"


def test_estimate_counts_the_body_and_the_completion() -> None:
    assert estimate_tokens(400, 50) == 150
    assert estimate_tokens(400, None) == 100 + 256


def test_secrets_are_random_and_only_the_prefix_is_shown() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert hash_secret(first) != hash_secret(second)
    assert len(hash_secret(first)) == 64
    assert visible_prefix(first) == first[:12]
    assert redact(first) == first[:12] + "****"
    assert first[12:] not in redact(first)
    assert redact("anything else") == "****"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer"])
def test_malformed_authorization_is_401(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        bearer_secret(header)


def test_headers_report_the_tightest_window() -> None:
    windows = (
        Window("rpm", 60, 100, "requests", 1),
        Window("rph", 3600, 1000, "requests", 1),
        Window("tpm", 60, 5000, "tokens", 300),
    )
    decision = Decision(True, windows, (10, 995, 600), now=3600 * 10 + 30.0)
    headers = decision.headers()
    assert headers["x-ratelimit-limit-requests"] == "1000"  # 5 left this hour beats 90 this minute
    assert headers["x-ratelimit-remaining-requests"] == "5"
    assert headers["x-ratelimit-reset-requests"] == "59m30s"
    assert headers["x-ratelimit-remaining-tokens"] == "4400"
    assert headers["x-ratelimit-reset-tokens"] == "30s"


def test_spill_lines_round_trip() -> None:
    entry = RequestLogEntry(
        request_id="r", model="m", endpoint="/e", status_code=502, latency_ms=1.5, cost=0.1, ttft_ms=None
    )
    assert RequestLogEntry.from_json(entry.to_json()) == entry


def test_headers_compare_a_unit_across_runs_of_windows() -> None:
    windows = (
        Window("rph", 3600, 1000, "requests", 1),
        Window("tpm", 60, 5000, "tokens", 300),
        Window("rpm", 60, 100, "requests", 1),
    )
    decision = Decision(True, windows, (10, 600, 95), now=3600 * 10 + 30.0)
    headers = decision.headers()
    assert headers["x-ratelimit-limit-requests"] == "100"  # 5 left this minute, after the tokens' window
    assert headers["x-ratelimit-remaining-requests"] == "5"
    assert headers["x-ratelimit-reset-requests"] == "30s"
    assert headers["x-ratelimit-remaining-tokens"] == "4400"


def test_a_row_has_every_column_and_cuts_text_to_its_width() -> None:
    long = "x" * 1000
    entry = RequestLogEntry(
        request_id=long, model=long, endpoint=long, status_code=200, latency_ms=1.0,
        served_model=long, error_type=long, transport=long, created_at=datetime(2026, 1, 1),
    )  # fmt: skip
    row = entry.row()
    assert set(row) == {column.name for column in dataclasses.fields(RequestLogEntry)}
    assert {name: len(row[name]) for name in LENGTHS} == LENGTHS
    assert row["created_at"].tzinfo is UTC
    assert row["cost"] == 0.0
    assert (
        RequestLogEntry(request_id="r", model="m", endpoint="/e", status_code=200, latency_ms=1.0).row()[
            "served_model"
        ]
        is None
    )
