"""A/B and canary splits: shares within a few percent, sticky per API key and per user, changed by a hot
reload that keeps the canary's clients, and ``citadel ab report``'s numbers from the request log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from citadel.gateway.services import services_of
from citadel.ops.ab_report import ab_report
from citadel.reload.apply import Reloader
from citadel.reload.history import Attempt
from citadel.reload.state import run_dir
from citadel.store import open_database
from citadel.store.event_tables import feedback
from citadel.store.tables import request_log
from citadel.store.types import utcnow
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

pytestmark = pytest.mark.timeout(120)


def _split(name: str, weights: tuple[float, float], **extra: Any) -> dict[str, Any]:
    variants = [{"model": "v1", "weight": weights[0]}, {"model": "v2", "weight": weights[1]}]
    return {"name": name, "variants": variants, **extra}


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, **extra}


async def _variants(client: httpx.AsyncClient, keys: range, **extra: Any) -> dict[int, str]:
    served = {}
    for key in keys:
        response = await client.post(
            "/v1/chat/completions", json=_chat("chat", **extra), headers={"authorization": f"Bearer k{key}"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-citadel-split"] == f"chat={response.headers['x-citadel-model']}"
        served[key] = response.headers["x-citadel-model"]
    return served


async def test_split_shares_are_sticky_and_change_by_reload(tmp_path: Path) -> None:
    async with fake_upstream(Script()) as url1, fake_upstream(Script()) as url2:
        data: dict[str, Any] = {
            "gateway": {
                "port": free_port(),
                "health_interval_s": 3600,
                "splits": [_split("chat", (90, 10)), _split("by-user", (50, 50), sticky="user")],
            },
            "models": [remote_model("v1", url1), remote_model("v2", url2)],
        }
        config = write_config(tmp_path, data)
        settings = load_settings(config)
        app = create_gateway_app(settings, config_path=config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
                before = await _variants(client, range(400))
                shares = Counter(before.values())
                assert abs(shares["v2"] / 400 - 0.10) < 0.04, shares
                again = await _variants(client, range(0, 400, 4))  # the same keys, the same variants
                assert again == {key: before[key] for key in range(0, 400, 4)}

                users: dict[str, set[str]] = {}
                for round_ in range(3):
                    for user in range(30):
                        body = _chat("by-user", user=f"user-{user}")
                        response = await client.post(
                            "/v1/chat/completions", json=body, headers={"authorization": f"Bearer r{round_}"}
                        )
                        users.setdefault(f"user-{user}", set()).add(response.headers["x-citadel-model"])
                assert all(len(seen) == 1 for seen in users.values())
                assert {next(iter(seen)) for seen in users.values()} == {"v1", "v2"}

                models = (await client.get("/v1/models")).json()["data"]
                assert {"chat", "by-user"} <= {model["id"] for model in models}

                # Canary from 10 % to 50 %: a hot reload; every client the canary had, it keeps.
                data["gateway"]["splits"][0] = _split("chat", (50, 50))
                write_config(tmp_path, data)
                database = services_of(app.state).governance.database
                attempt = Attempt("test", "cli", str(config), config.read_text(encoding="utf-8"))
                outcome = await Reloader(database, run_dir(settings)).apply(attempt)
                assert outcome.result == "applied", outcome.lines()
                assert any(line.startswith("gateway.splits[chat].variants") for line in outcome.diff)
                after = await _variants(client, range(400))
        shares = Counter(after.values())
        assert abs(shares["v2"] / 400 - 0.50) < 0.07, shares
        assert all(after[key] == "v2" for key, variant in before.items() if variant == "v2")

    database = await open_database(settings.database)
    try:
        report = {row.variant: row for row in await ab_report(database, "chat")}
        assert {row.rated for row in report.values()} == {0}
        assert {row.satisfaction for row in report.values()} == {None}
        # Users rate three requests of each variant: the report compares their satisfaction.
        ratings = {"v1": [5, 4, 5], "v2": [2, 3, 1]}
        async with database.transaction() as connection:
            logged_ids = (
                await connection.execute(
                    select(request_log.c.request_id, request_log.c.served_model).where(
                        request_log.c.model == "chat"
                    )
                )
            ).all()
            for variant, scores in ratings.items():
                ids = [row.request_id for row in logged_ids if row.served_model == variant][: len(scores)]
                await connection.execute(
                    insert(feedback),
                    [
                        {"request_id": rid, "model": variant, "rating": score, "created_at": utcnow()}
                        for rid, score in zip(ids, scores, strict=True)
                    ],
                )
        rated = {row.variant: row for row in await ab_report(database, "chat")}
    finally:
        await database.aclose()
    assert {name: row.rated for name, row in rated.items()} == {"v1": 3, "v2": 3}
    assert rated["v1"].satisfaction == pytest.approx(14 / 3)
    assert rated["v2"].satisfaction == pytest.approx(2.0)
    assert {name: row.requests for name, row in rated.items()} == {
        name: row.requests for name, row in report.items()
    }  # the join adds no rows
    logged = Counter(before.values()) + Counter(again.values()) + Counter(after.values())
    assert {name: row.requests for name, row in report.items()} == dict(logged)
    assert sum(row.share for row in report.values()) == pytest.approx(1.0)
    assert all(row.errors == 0 and row.completion_tokens == row.requests for row in report.values())
