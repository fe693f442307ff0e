"""The console's JSON API in-process: sessions, roles on every route, CSRF, audit, sign-in throttling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.services import services_of
from citadel.live.console.accounts import create_user
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

pytestmark = pytest.mark.timeout(60)

ADMIN_KEY = "admin-key-for-console-tests"
PASSWORDS = {"ada": "ada-admin-pass", "otto": "otto-operator-pass", "vera": "vera-viewer-pass"}


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = write_config(
        tmp_path,
        {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            # Never called: these tests stay on the console's own routes.
            "models": [remote_model("m1", f"http://127.0.0.1:{free_port()}")],
            "auth": {"enabled": True, "admin_key": ADMIN_KEY, "key_cache_ttl_s": 0},
            "live": {"console": {"signin_failures": 3, "signin_window_s": 60}},
        },
    )
    app = create_gateway_app(load_settings(config))
    async with app.router.lifespan_context(app):
        database = services_of(app.state).governance.database
        for (name, password), role in zip(PASSWORDS.items(), ["admin", "operator", "viewer"], strict=True):
            await create_user(database, name, password, role, actor="test")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
            yield client


async def _sign_in(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/ui/api/session", json={"username": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


async def test_the_page_is_served_with_a_strict_content_security_policy(console: httpx.AsyncClient) -> None:
    page = await console.get("/ui")
    assert page.status_code == 200
    assert "Citadel console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await console.get("/ui/static/console.js")
    assert script.status_code == 200
    assert "/ws/metrics" in script.text


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(
    console: httpx.AsyncClient,
) -> None:
    response = await console.post("/ui/api/session", json={"username": "vera", "password": PASSWORDS["vera"]})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "max-age=" in cookie
    token = console.cookies["citadel_session"]
    csrf = response.json()["csrf_token"]
    assert (await console.get("/ui/api/session")).json()["role"] == "viewer"
    assert (await console.delete("/ui/api/session", headers={"x-csrf-token": csrf})).status_code == 200
    # The old cookie, sent again, no longer signs anyone in: the session ended on the server.
    console.cookies.set("citadel_session", token)
    again = await console.get("/ui/api/keys")
    assert again.status_code == 401
    assert again.json()["error"]["type"] == "authentication_error"


async def test_each_role_is_enforced_on_the_server(console: httpx.AsyncClient) -> None:
    csrf = await _sign_in(console, "vera")
    assert (await console.get("/ui/api/keys")).status_code == 200
    refused = await console.post("/ui/api/keys", json={"name": "nope"}, headers={"x-csrf-token": csrf})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "role_required"
    assert (await console.get("/ui/api/users")).status_code == 403
    csrf = await _sign_in(console, "otto")
    created = await console.post("/ui/api/keys", json={"name": "by-otto"}, headers={"x-csrf-token": csrf})
    assert created.status_code == 201
    assert created.json()["secret"].startswith("ctd_")
    assert (await console.get("/ui/api/audit")).status_code == 403
    csrf = await _sign_in(console, "ada")
    audit = (await console.get("/ui/api/audit")).json()["data"]
    create = next(row for row in audit if row["action"] == "key.create")
    assert create["actor"] == "console:otto"
    assert create["target"] == created.json()["prefix"]
    assert "console.signin" in {row["action"] for row in audit}


async def test_a_write_without_the_csrf_token_is_refused(console: httpx.AsyncClient) -> None:
    await _sign_in(console, "otto")
    response = await console.post("/ui/api/keys", json={"name": "forged"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


async def test_failed_sign_ins_are_throttled(console: httpx.AsyncClient) -> None:
    for _ in range(3):
        wrong = await console.post("/ui/api/session", json={"username": "ada", "password": "wrong-password"})
        assert wrong.status_code == 401
    throttled = await console.post("/ui/api/session", json={"username": "ada", "password": PASSWORDS["ada"]})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    metrics = (await console.get("/metrics")).text
    assert 'citadel_console_signins_total{result="throttled"} 1.0' in metrics


async def test_the_running_config_is_shown_with_secrets_masked_and_edits_are_validated(
    console: httpx.AsyncClient,
) -> None:
    await _sign_in(console, "vera")
    shown = (await console.get("/ui/api/config")).json()
    assert ADMIN_KEY not in shown["yaml"]
    assert yaml.safe_load(shown["yaml"])["auth"]["admin_key"] == "**********"
    assert shown["apply_available"] is False
    csrf = await _sign_in(console, "otto")
    bad = shown["yaml"].replace("port: ", "port: -", 1)
    result = (
        await console.post("/ui/api/config/validate", json={"yaml": bad}, headers={"x-csrf-token": csrf})
    ).json()
    assert result["valid"] is False
    assert result["problems"]
    good = yaml.safe_dump({"models": [], "gateway": {"port": 8123}})
    result = (
        await console.post("/ui/api/config/validate", json={"yaml": good}, headers={"x-csrf-token": csrf})
    ).json()
    assert result == {"valid": True, "problems": [], "models": []}
