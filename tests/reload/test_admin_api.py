"""``/admin/config``: reload with a new YAML (refused when invalid, with every problem), the history and a
rollback, admin key only; and the listener hook a reload calls with each applied change."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.services import services_of
from citadel.reload.apply import Reloader, ReloadOutcome
from citadel.reload.history import Attempt
from citadel.reload.state import run_dir
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

pytestmark = pytest.mark.timeout(120)

ADMIN = {"authorization": "Bearer admin-key-for-the-test"}


async def test_admin_config_reload_history_and_rollback(tmp_path: Path) -> None:
    async with fake_upstream(Script()) as url_a, fake_upstream(Script()) as url_b:
        data: dict[str, Any] = {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model("a", url_a)],
            "auth": {"enabled": True, "admin_key": ADMIN["authorization"].removeprefix("Bearer ")},
        }
        config = write_config(tmp_path, copy.deepcopy(data))
        app = create_gateway_app(load_settings(config), config_path=config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
                assert (await client.post("/admin/config")).status_code == 401

                bad = {**data, "models": [{"name": "a", "backend": "remote"}], "gateway": {"workers": 0}}
                refused = await client.post(
                    "/admin/config", json={"config": yaml.safe_dump(bad)}, headers=ADMIN
                )
                assert refused.status_code == 400
                error = refused.json()["error"]
                assert error["code"] == "invalid_config"
                assert "gateway.workers" in error["message"]
                assert "models[a]" in error["message"]
                assert "models:\n- name: a\n  backend: remote\n  url:" in config.read_text()  # file untouched

                new = copy.deepcopy(data)
                new["models"].append(remote_model("b", url_b))
                applied = await client.post(
                    "/admin/config", json={"config": yaml.safe_dump(new)}, headers=ADMIN
                )
                assert applied.status_code == 200, applied.text
                assert applied.json()["result"] == "applied"
                assert "models[b]: added" in applied.json()["diff"]
                models = (await client.get("/v1/models", headers=ADMIN)).json()["data"]
                assert {model["id"] for model in models} == {"a", "b"}

                history = (await client.get("/admin/config/history", headers=ADMIN)).json()["data"]
                assert [(v["version"], v["source"], v["result"]) for v in history] == [
                    (1, "start", "applied"),
                    (2, "api", "applied"),
                ]
                missing = await client.post("/admin/config/rollback", json={"version": 9}, headers=ADMIN)
                assert missing.status_code == 404
                back = await client.post("/admin/config/rollback", json={"version": 1}, headers=ADMIN)
                assert back.status_code == 200, back.text
                assert "models[b]: removed" in back.json()["diff"]
                models = (await client.get("/v1/models", headers=ADMIN)).json()["data"]
                assert {model["id"] for model in models} == {"a"}
                audit = (await client.get("/admin/audit", headers=ADMIN)).json()["data"]
                assert [row["action"] for row in audit if row["action"].startswith("config.")] == [
                    "config.reload",
                    "config.reload",
                    "config.rollback",
                ]

                # The hook for the events pipeline: each listener hears of each applied change.
                heard: list[tuple[ReloadOutcome, Attempt]] = []
                reloader = Reloader(
                    services_of(app.state).governance.database,
                    run_dir(services_of(app.state).settings),
                    listeners=[lambda outcome, attempt: heard.append((outcome, attempt))],
                )
                write_config(tmp_path, new)
                attempt = Attempt("test", "cli", str(config), config.read_text(encoding="utf-8"))
                outcome = await reloader.apply(attempt)
        assert heard == [(outcome, attempt)]
        assert outcome.result == "applied"
