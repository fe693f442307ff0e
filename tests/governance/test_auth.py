"""Authentication, permissions, budgets and rate limits as a client sees them: OpenAI-shaped 401/403/429,
``x-ratelimit-*`` headers, the admin API's own key, and no secret in any log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from citadel.errors import AuthenticationError
from citadel.governance import Governance
from citadel.governance.keys_admin import KeySpec, create_key, revoke_key
from citadel.governance.ratelimit_memory import MemoryRateLimiter
from citadel.store.types import utcnow
from tests.governance.app import governed_app
from tests.governance.conftest import make_settings

ADMIN = {"authorization": "Bearer admin-secret-for-tests"}


def _tiers() -> dict[str, Any]:
    return {
        "default": {"requests_per_minute": 1000},
        "tiny": {"requests_per_hour": 3},
        "tokens": {"requests_per_hour": 100, "tokens_per_minute": 40},
    }


@pytest.fixture
async def governance(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Governance]:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        rate_limits={"tiers": _tiers()},
        prices={"m": {"prompt_per_1k": 1000.0, "completion_per_1k": 1000.0}},
    )
    # A clock in the middle of a minute: the fixed windows cannot roll over during a test.
    limiter = MemoryRateLimiter(clock=lambda: 60_000_030.0)
    governance = await Governance.open(settings, registry=CollectorRegistry(), limiter=limiter)
    yield governance
    await governance.aclose()


@pytest.fixture
async def client(governance: Governance) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=governed_app(governance))
    async with httpx.AsyncClient(transport=transport, base_url="http://citadel.test") as client:
        yield client


async def _key(governance: Governance, **spec: Any) -> str:
    spec.setdefault("name", "app")
    spec.setdefault("tier", "default")
    issued = await create_key(governance.database, KeySpec(**spec), actor="test", tiers=_tiers())
    return issued.secret


async def _chat(client: httpx.AsyncClient, secret: str | None, model: str = "m") -> httpx.Response:
    headers = {"authorization": f"Bearer {secret}"} if secret is not None else {}
    return await client.post("/v1/chat/completions", json={"model": model}, headers=headers)


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def test_missing_unknown_revoked_and_expired_keys_are_401(
    client: httpx.AsyncClient, governance: Governance
) -> None:
    revoked = await _key(governance, name="old")
    await revoke_key(governance.database, revoked[:12], actor="test")
    expired = await _key(governance, expires_at=utcnow() - timedelta(seconds=1))
    for secret in (None, "ctd_nottherightkeyatall", revoked, expired):
        response = await _chat(client, secret)
        assert response.status_code == 401, secret
        error = _error(response)
        assert error["type"] == "authentication_error"
    assert _error(await _chat(client, revoked))["message"].endswith("is revoked.")
    assert _error(await _chat(client, expired))["message"].endswith("is expired.")
    assert (await _chat(client, await _key(governance))).status_code == 200


async def test_a_model_the_key_may_not_use_is_403(client: httpx.AsyncClient, governance: Governance) -> None:
    secret = await _key(governance, allowed_models=("m",))
    assert (await _chat(client, secret, "m")).status_code == 200
    response = await _chat(client, secret, "forbidden-model")
    assert response.status_code == 403
    error = _error(response)
    assert (error["type"], error["code"], error["param"]) == (
        "permission_error",
        "model_not_allowed",
        "model",
    )


async def test_over_the_rate_limit_is_429_with_retry_after_and_headers(
    client: httpx.AsyncClient, governance: Governance
) -> None:
    secret = await _key(governance, tier="tiny")
    remaining = []
    for _ in range(3):
        response = await _chat(client, secret)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(response.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    refused = await _chat(client, secret)
    assert refused.status_code == 429
    assert (_error(refused)["type"], _error(refused)["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert refused.headers["retry-after"] == "1170"  # the hour window ends 1170 s after the fixed clock
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == "19m30s"
    other = await _key(governance, tier="tiny")  # limits are per key
    assert (await _chat(client, other)).status_code == 200


async def test_tokens_per_minute_are_counted_from_the_estimate(
    client: httpx.AsyncClient, governance: Governance
) -> None:
    secret = await _key(governance, tier="tokens")  # 40 tokens a minute, each request estimates 16
    first, second, third = [await _chat(client, secret) for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert first.headers["x-ratelimit-limit-tokens"] == "40"
    assert (
        first.headers["x-ratelimit-remaining-tokens"],
        second.headers["x-ratelimit-remaining-tokens"],
    ) == (
        "24",
        "8",
    )


async def test_over_budget_is_429_insufficient_quota(
    client: httpx.AsyncClient, governance: Governance
) -> None:
    # Each request costs (16 + 8) tokens at 1000 per 1k = 24; the key may spend 50 a day.
    secret = await _key(governance, spend_limit=50.0, spend_period="day")
    statuses = [(await _chat(client, secret)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # 0, 24, 48 spent before each: all under 50
    refused = await _chat(client, secret)
    assert refused.status_code == 429
    error = _error(refused)
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")


async def test_the_admin_api_needs_the_admin_key(client: httpx.AsyncClient, governance: Governance) -> None:
    normal = await _key(governance)
    assert (await client.get("/admin/keys")).status_code == 401
    assert (await client.get("/admin/keys", headers={"authorization": "Bearer nope"})).status_code == 401
    forbidden = await client.get("/admin/keys", headers={"authorization": f"Bearer {normal}"})
    assert forbidden.status_code == 403
    assert _error(forbidden)["type"] == "permission_error"
    assert (
        await client.get("/admin/usage", headers={"authorization": f"Bearer {normal}"})
    ).status_code == 403
    assert (await client.get("/admin/keys", headers=ADMIN)).status_code == 200


async def test_admin_api_keys_lifecycle_and_usage(client: httpx.AsyncClient, governance: Governance) -> None:
    created = await client.post(
        "/admin/keys", headers=ADMIN, json={"name": "svc", "tier": "tiny", "models": ["m"]}
    )
    assert created.status_code == 201
    body = created.json()
    secret, prefix = body["secret"], body["prefix"]
    assert secret.startswith(prefix)
    assert body["tier"] == "tiny"
    assert body["allowed_models"] == ["m"]
    assert (await _chat(client, secret)).status_code == 200
    listed = (await client.get("/admin/keys", headers=ADMIN)).json()["data"]
    assert [key["prefix"] for key in listed] == [prefix]
    assert "secret" not in listed[0]
    changed = await client.patch(f"/admin/keys/{prefix}", headers=ADMIN, json={"tier": "default"})
    assert changed.json()["tier"] == "default"
    bad_tier = await client.patch(f"/admin/keys/{prefix}", headers=ADMIN, json={"tier": "gold"})
    assert bad_tier.status_code == 400
    rotated = (await client.post(f"/admin/keys/{prefix}/rotate", headers=ADMIN)).json()
    assert (await _chat(client, secret)).status_code == 401  # the old secret stops at once
    assert (await _chat(client, rotated["secret"])).status_code == 200
    assert (await client.delete(f"/admin/keys/{rotated['prefix']}", headers=ADMIN)).status_code == 200
    assert (await _chat(client, rotated["secret"])).status_code == 401
    assert (await client.get("/admin/keys/ctd_missing0", headers=ADMIN)).status_code == 404

    usage = await _until_usage(client, {"key": str(body["id"])}, requests=2)
    assert [(row["key_prefix"], row["model"], row["requests"]) for row in usage] == [
        (rotated["prefix"], "m", 2)
    ]
    assert usage[0]["prompt_tokens"] == 32
    assert usage[0]["cost"] == pytest.approx(48.0)
    audit = (await client.get("/admin/audit", headers=ADMIN)).json()["data"]
    assert [row["action"] for row in audit] == ["key.create", "key.update", "key.rotate", "key.revoke"]
    assert {row["actor"] for row in audit} == {"admin"}


async def _until_usage(
    client: httpx.AsyncClient, params: dict[str, str], requests: int
) -> list[dict[str, Any]]:
    """The usage rows once the request log has written ``requests`` requests (the writer is asynchronous)."""
    for _ in range(200):
        rows: list[dict[str, Any]] = (await client.get("/admin/usage", headers=ADMIN, params=params)).json()[
            "data"
        ]
        if sum(row["requests"] for row in rows) >= requests:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"the request log never reached {requests} requests")


async def test_no_secret_appears_in_any_log_line(
    client: httpx.AsyncClient, governance: Governance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = await _key(governance, tier="tiny")
    revoked = await _key(governance)
    await revoke_key(governance.database, revoked[:12], actor="test")
    for presented in (secret, secret, secret, secret, revoked, secret + "x", "Bearer-less"):
        await _chat(client, presented)
    created = (await client.post("/admin/keys", headers=ADMIN, json={"name": "x"})).json()
    await client.post(f"/admin/keys/{created['prefix']}/rotate", headers=ADMIN)
    await _until_usage(client, {}, requests=3)
    text = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert caplog.records  # something was logged (SQL, warnings), and none of it holds a key
    for leaked in (secret, revoked, created["secret"], "admin-secret-for-tests"):
        assert leaked not in text
        assert leaked[12:] not in text  # not even the secret part after the visible prefix


async def test_authenticate_names_the_caller_without_counting(governance: Governance) -> None:
    secret = await _key(governance, tier="tiny", allowed_models=("m",))  # 3 requests an hour
    for _ in range(5):
        principal = await governance.authenticate(f"Bearer {secret}")
        assert principal.kind == "key"
        assert principal.allows("m")
        assert not principal.allows("other")
    admitted = await governance.admit(f"Bearer {secret}", "m", 1)
    assert admitted.headers["x-ratelimit-remaining-requests"] == "2"  # the five calls above counted nothing
    assert (await governance.authenticate("Bearer admin-secret-for-tests")).kind == "admin"
    with pytest.raises(AuthenticationError):
        await governance.authenticate("Bearer ctd_unknown")
