"""Governance settings: the seed's tiers and retention by default, validated, overridable by environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from citadel.config import CitadelSettings, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_seeds_tiers_and_retention() -> None:
    settings = CitadelSettings()
    tiers = {
        name: (tier.requests_per_minute, tier.requests_per_hour, tier.requests_per_day)
        for name, tier in settings.rate_limits.tiers.items()
    }
    assert tiers == {
        "default": (100, 1000, 10000),
        "basic": (50, 500, 5000),
        "premium": (200, 2000, 20000),
        "enterprise": (1000, 10000, 100000),
    }
    assert settings.request_log.retention_days == 30
    assert settings.request_log.bodies == "none"
    assert settings.rate_limits.fail_open is True


@pytest.mark.parametrize("name", ["citadel.yaml", "hxp-enterprise.yaml"])
def test_shipped_configs_stay_valid(name: str) -> None:
    settings = load_settings(REPO / "config" / name)
    assert settings.rate_limits.default_tier == "default"


def test_default_tier_must_exist() -> None:
    with pytest.raises(ValidationError, match="default_tier 'gold' is not one of the tiers"):
        CitadelSettings(rate_limits={"default_tier": "gold"})


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITADEL_RATE_LIMITS__FAIL_OPEN", "false")
    monkeypatch.setenv("CITADEL_REQUEST_LOG__BODIES", "anonymised")
    settings = CitadelSettings()
    assert settings.rate_limits.fail_open is False
    assert settings.request_log.bodies == "anonymised"
